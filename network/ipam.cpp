#include "network/ipam.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <optional>
#include <string_view>
#include <utility>

#include "common/file_lock.hpp"
#include "common/fs.hpp"
#include "common/unique_fd.hpp"

namespace podnet {

namespace {

// The state file:
//   {"version":1,
//   "allocations":{
//   "10.77.0.2":"<sandbox id>",
//   "fd77::2":"<sandbox id>"},
//   "last_allocated":{"10.77.0.0/16":"10.77.0.2","fd77::/64":"fd77::2"}}
// It is read and written here rather than with nlohmann::json because allocate() runs on every
// sandbox create: with 1,000 allocations nlohmann's parse alone took ~400 us (SAX) to ~600 us
// (DOM), and parse + dump + conversion ~1.3 ms, against a budget of well under 100 us. The
// reader below still accepts any JSON text (other spacing, escapes, key order; unknown keys are
// written back unchanged) and rejects anything that is not JSON.
constexpr int state_version = 1;

// Whether [p, p + n) holds a byte below 0x20 or a backslash, tested 8 bytes at a time: this scan
// covers every owner id in the file and was a fifth of allocate()'s time byte by byte.
// (x - 0x20 in each byte) & ~x & 0x80 in each byte is non-zero iff some byte of x is below
// 0x20; with x ^ '\\' in each byte and 0x01, iff some byte of x is a backslash.
bool needs_care(const char* p, size_t n) {
    constexpr uint64_t ones = 0x0101010101010101;
    constexpr uint64_t highs = 0x8080808080808080;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = 0;
        std::memcpy(&x, p + i, 8);
        uint64_t backslash = x ^ (ones * '\\');
        if (((x - ones * 0x20) & ~x & highs) | ((backslash - ones) & ~backslash & highs))
            return true;
    }
    for (; i < n; ++i)
        if (static_cast<unsigned char>(p[i]) < 0x20 || p[i] == '\\') return true;
    return false;
}

// Reads JSON text: objects, strings (validated, returned as written), integers, and skipping
// any other value. Each call returns false on error and keeps the first error's description.
class JsonReader {
  public:
    explicit JsonReader(std::string_view text) : text_(text) {}

    [[nodiscard]] const std::string& error() const { return error_; }

    bool failed(const std::string& why) {
        if (error_.empty())
            error_ = why + (pos_ < text_.size() ? " at byte " + std::to_string(pos_)
                                                : std::string(" at end of file"));
        return false;
    }

    // Skips whitespace, then takes `c` if it is next.
    bool consume(char c) {
        skip_space();
        if (pos_ == text_.size() || text_[pos_] != c) return false;
        ++pos_;
        return true;
    }

    bool expect(char c) { return consume(c) || failed(std::string("expected '") + c + "'"); }

    bool at_end() {
        skip_space();
        return pos_ == text_.size();
    }

    // A string's contents as written, between the quotes; `escaped`: it holds backslash
    // escapes, so the text differs from the value (see decode()).
    bool string(std::string_view& raw, bool& escaped) {
        if (!expect('"')) return false;
        size_t start = pos_;
        // Fast path: no escapes and no control characters up to the next quote.
        if (const void* q = std::memchr(text_.data() + pos_, '"', text_.size() - pos_)) {
            size_t quote = static_cast<size_t>(static_cast<const char*>(q) - text_.data());
            if (!needs_care(text_.data() + start, quote - start)) {
                raw = text_.substr(start, quote - start);
                escaped = false;
                pos_ = quote + 1;
                return true;
            }
        }
        escaped = false;
        while (pos_ < text_.size()) {
            auto c = static_cast<unsigned char>(text_[pos_]);
            if (c == '"') {
                raw = text_.substr(start, pos_ - start);
                ++pos_;
                return true;
            }
            if (c < 0x20) return failed("control character in string");
            if (c != '\\') {
                ++pos_;
                continue;
            }
            escaped = true;
            ++pos_;
            if (pos_ == text_.size()) break;
            char e = text_[pos_];
            if (e != 'u') {
                if (std::strchr("\"\\/bfnrt", e) == nullptr || e == '\0')
                    return failed("invalid escape in string");
                ++pos_;
                continue;
            }
            unsigned unit = 0;
            if (!hex4(pos_ + 1, unit)) return failed("invalid \\u escape in string");
            pos_ += 5;
            if (unit >= 0xdc00 && unit <= 0xdfff) return failed("lone low surrogate in string");
            if (unit >= 0xd800 && unit <= 0xdbff) {
                unsigned low = 0;
                if (text_.substr(pos_, 2) != "\\u" || !hex4(pos_ + 2, low) || low < 0xdc00 ||
                    low > 0xdfff)
                    return failed("lone high surrogate in string");
                pos_ += 6;
            }
        }
        return failed("unterminated string");
    }

    bool integer(long long& value) {
        skip_space();
        size_t start = pos_;
        if (!number()) return false;
        std::string_view token = text_.substr(start, pos_ - start);
        auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
        if (ec != std::errc() || end != token.data() + token.size())
            return failed("expected an integer");
        return true;
    }

    // An object's members: `member(raw_key, key)` is called before each value and must read it.
    template <class Member>
    bool object(Member&& member) {
        if (!expect('{')) return false;
        if (consume('}')) return true;
        for (;;) {
            std::string_view raw;
            bool escaped = false;
            if (!string(raw, escaped)) return false;
            std::string decoded = escaped ? decode(raw) : std::string();
            if (!expect(':')) return false;
            if (!member(raw, escaped ? std::string_view(decoded) : raw)) return false;
            if (consume(',')) continue;
            if (consume('}')) return true;
            return failed("expected ',' or '}'");
        }
    }

    bool skip_value(int depth = 0) {
        // Deep enough for any sane document, shallow enough for the stack.
        if (depth > 64) return failed("nesting too deep");
        skip_space();
        if (pos_ == text_.size()) return failed("expected a value");
        switch (text_[pos_]) {
            case '"': {
                std::string_view raw;
                bool escaped = false;
                return string(raw, escaped);
            }
            case '{':
                return object(
                    [&](std::string_view, std::string_view) { return skip_value(depth + 1); });
            case '[':
                ++pos_;
                if (consume(']')) return true;
                for (;;) {
                    if (!skip_value(depth + 1)) return false;
                    if (consume(',')) continue;
                    if (consume(']')) return true;
                    return failed("expected ',' or ']'");
                }
            case 't':
                return literal("true");
            case 'f':
                return literal("false");
            case 'n':
                return literal("null");
            default:
                return number();
        }
    }

    // Any value, as written.
    bool raw_value(std::string_view& raw) {
        skip_space();
        size_t start = pos_;
        if (!skip_value()) return false;
        raw = text_.substr(start, pos_ - start);
        return true;
    }

    // The value of a string that string() reported as escaped.
    static std::string decode(std::string_view raw) {
        std::string out;
        out.reserve(raw.size());
        for (size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] != '\\') {
                out += raw[i];
                continue;
            }
            char e = raw[++i];
            switch (e) {
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    unsigned cp = 0;
                    (void)hex4(raw, i + 1, cp);
                    i += 4;
                    if (cp >= 0xd800 && cp <= 0xdbff) {
                        unsigned low = 0;
                        (void)hex4(raw, i + 3, low);
                        i += 6;
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default:
                    out += e;
                    break;  // '"', '\\', '/'
            }
        }
        return out;
    }

  private:
    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                       text_[pos_] == '\r' || text_[pos_] == '\t'))
            ++pos_;
    }

    bool literal(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) return failed("invalid literal");
        pos_ += word.size();
        return true;
    }

    // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    bool number() {
        auto digit = [&] {
            return pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9';
        };
        auto digits = [&] {
            if (!digit()) return false;
            while (digit()) ++pos_;
            return true;
        };
        if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
        if (pos_ < text_.size() && text_[pos_] == '0')
            ++pos_;
        else if (!digits())
            return failed("expected a value");
        if (pos_ < text_.size() && text_[pos_] == '.') {
            ++pos_;
            if (!digits()) return failed("invalid number");
        }
        if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
            if (!digits()) return failed("invalid number");
        }
        return true;
    }

    bool hex4(size_t at, unsigned& out) const { return hex4(text_, at, out); }

    static bool hex4(std::string_view s, size_t at, unsigned& out) {
        if (at + 4 > s.size()) return false;
        auto [end, ec] = std::from_chars(s.data() + at, s.data() + at + 4, out, 16);
        return ec == std::errc() && end == s.data() + at + 4;
    }

    static void append_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }

    std::string_view text_;
    size_t pos_ = 0;
    std::string error_;
};

// `value` as the contents of a JSON string.
std::string json_escape(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

struct Entry {
    IpAddress address;
    // Both as JSON string contents, escaped as in the file, so that saving copies them back
    // instead of formatting 1,000 addresses again.
    std::string_view key;
    std::string_view owner;
    bool owner_escaped = false;

    [[nodiscard]] bool held_by(std::string_view who) const {
        return owner_escaped ? JsonReader::decode(owner) == who : owner == who;
    }
    [[nodiscard]] std::string owner_value() const {
        return owner_escaped ? JsonReader::decode(owner) : std::string(owner);
    }
};

// The file, in memory.
struct State {
    // Backing text of the Entry views: the file as read, then added keys and owners. A deque
    // never moves its elements, not even when the State itself is moved.
    std::deque<std::string> text;
    // Sorted by address, so one subnet's allocations are one contiguous run (addresses compare
    // by family, then bytes, and a prefix is a range of bytes).
    std::vector<Entry> allocations;
    // Subnet text -> the last address allocate() handed out there.
    std::vector<std::pair<std::string, IpAddress>> cursors;
    // Members this podnet does not know (raw key, raw value), written back as they were.
    std::vector<std::pair<std::string_view, std::string_view>> unknown;

    void add(const IpAddress& address, const std::string& owner) {
        std::string_view key = text.emplace_back(address.str());
        std::string_view value = text.emplace_back(json_escape(owner));
        auto at = std::ranges::lower_bound(allocations, address, {}, &Entry::address);
        allocations.insert(at, Entry{address, key, value, false});
    }
    [[nodiscard]] bool taken(const IpAddress& address) const {
        return std::ranges::binary_search(allocations, address, {}, &Entry::address);
    }
    [[nodiscard]] std::pair<std::vector<Entry>::iterator, std::vector<Entry>::iterator> run_of(
        const IpPrefix& subnet) {
        return {std::ranges::lower_bound(allocations, subnet.address, {}, &Entry::address),
                std::ranges::upper_bound(allocations, subnet.last(), {}, &Entry::address)};
    }
    IpAddress* cursor(const std::string& subnet) {
        for (auto& [s, address] : cursors)
            if (s == subnet) return &address;
        return nullptr;
    }
};

std::string short_id(std::string_view owner) {
    return std::string(owner.substr(0, 12));
}

// The file's keys are nearly all dotted quads, parsed here directly into `out`: parse_ip (a
// std::string, then inet_pton, then a copy through Result) was over half of the time to read
// 1,000 allocations. Takes only the canonical form (no leading zeros), which inet_pton accepts
// with the same result; false leaves the rest, and the wording of errors, to parse_ip.
bool parse_dotted_quad(std::string_view text, IpAddress& out) {
    uint8_t quad[4];
    size_t i = 0;
    for (size_t part = 0; part < 4; ++part) {
        if (part > 0 && (i == text.size() || text[i++] != '.')) return false;
        size_t start = i;
        unsigned value = 0;
        while (i < text.size() && i - start < 3 && text[i] >= '0' && text[i] <= '9')
            value = value * 10 + static_cast<unsigned>(text[i++] - '0');
        size_t digits = i - start;
        if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) return false;
        quad[part] = static_cast<uint8_t>(value);
    }
    if (i != text.size()) return false;
    out.family = AF_INET;
    out.bytes = {};
    // One store of all four: byte stores followed by a 16-byte load of the address stalled.
    std::memcpy(out.bytes.data(), quad, sizeof quad);
    return true;
}

Result<State> parse_state(std::string content, const std::string& path) {
    State state;
    JsonReader in(state.text.emplace_back(std::move(content)));
    // A line of the file is ~80 bytes with a 64-character sandbox id: room to spare, without
    // touching (and page-faulting) much more memory than is used.
    state.allocations.reserve(state.text.front().size() / 48);
    bool have_version = false;
    bool have_allocations = false;
    bool have_cursors = false;
    auto once = [&](bool& seen, std::string_view key) {
        if (!seen) return seen = true;
        return in.failed("duplicate key \"" + std::string(key) + "\"");
    };
    auto read_allocation = [&](std::string_view raw_key, std::string_view key) {
        Entry& entry = state.allocations.emplace_back();
        entry.key = raw_key;
        if (!parse_dotted_quad(key, entry.address)) {
            auto address = parse_ip(key);
            if (!address) return in.failed(address.error().message);
            entry.address = *address;
        }
        if (!in.string(entry.owner, entry.owner_escaped)) return false;
        if (entry.owner.empty()) return in.failed("empty owner of " + entry.address.str());
        return true;
    };
    auto read_cursor = [&](std::string_view, std::string_view subnet) {
        std::string_view raw;
        bool escaped = false;
        if (!in.string(raw, escaped)) return false;
        auto address = parse_ip(escaped ? JsonReader::decode(raw) : std::string(raw));
        if (!address) return in.failed(address.error().message);
        state.cursors.emplace_back(std::string(subnet), *address);
        return true;
    };
    bool ok = in.object([&](std::string_view raw_key, std::string_view key) {
        if (key == "version") {
            long long version = 0;
            if (!once(have_version, key) || !in.integer(version)) return false;
            if (version != state_version)
                return in.failed("unsupported version " + std::to_string(version));
            return true;
        }
        if (key == "allocations") return once(have_allocations, key) && in.object(read_allocation);
        if (key == "last_allocated") return once(have_cursors, key) && in.object(read_cursor);
        // From a later podnet of the same version: kept, since it is not ours to judge.
        std::string_view value;
        if (!in.raw_value(value)) return false;
        state.unknown.emplace_back(raw_key, value);
        return true;
    });
    if (ok && !in.at_end()) ok = in.failed("trailing data");
    auto corrupt = [&](const std::string& why) {
        return fail("IPAM state " + path + " is corrupt: " + why);
    };
    if (!ok) return corrupt(in.error());
    if (!have_version) return corrupt("no \"version\"");
    if (!have_allocations) return corrupt("no \"allocations\"");
    // Saved sorted; sorting again only matters for a file edited by hand.
    auto by_address = [](const Entry& a, const Entry& b) { return a.address < b.address; };
    if (!std::ranges::is_sorted(state.allocations, by_address))
        std::ranges::sort(state.allocations, by_address);
    auto twice = std::ranges::adjacent_find(
        state.allocations, [](const Entry& a, const Entry& b) { return a.address == b.address; });
    if (twice != state.allocations.end())
        return corrupt("address " + twice->address.str() + " is allocated twice");
    return state;
}

std::string serialize_state(const State& state) {
    std::string out;
    size_t size = 64;
    for (const auto& e : state.allocations) size += e.key.size() + e.owner.size() + 8;
    out.reserve(size);
    out += "{\"version\":" + std::to_string(state_version) + ",\n\"allocations\":{";
    const char* separator = "\n\"";
    for (const auto& e : state.allocations) {
        out += separator;
        out += e.key;
        out += "\":\"";
        out += e.owner;
        out += '"';
        separator = ",\n\"";
    }
    out += "},\n\"last_allocated\":{";
    separator = "\"";
    for (const auto& [subnet, address] : state.cursors) {
        out += separator;
        out += json_escape(subnet);
        out += "\":\"";
        out += address.str();
        out += '"';
        separator = ",\"";
    }
    out += '}';
    for (const auto& [key, value] : state.unknown) {
        out += ",\n\"";
        out += key;
        out += "\":";
        out += value;
    }
    out += "}\n";
    return out;
}

// The file in reads of its exact size, or nullopt when there is none. (read_file grows its
// buffer 8 KiB at a time: for an 80 KiB file that touched three times the memory, and fresh
// pages cost a page fault each.)
Result<std::optional<std::string>> read_state_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        return fail_errno("open " + path, errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail_errno("stat " + path, errno);
    std::string text(static_cast<size_t>(st.st_size) + 1, '\0');
    size_t done = 0;
    for (;;) {
        // The spare byte tells end of file from a file that grew since fstat.
        if (done == text.size()) text.resize(text.size() * 2);
        ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno("read " + path, errno);
        }
        if (n == 0) break;
        done += static_cast<size_t>(n);
    }
    text.resize(done);
    return text;
}

Result<State> load_state(const std::string& path) {
    // Callers hold the lock (or, for list(), rely on the atomic rename), so "missing" here
    // means "nothing allocated yet", not a file caught half-written.
    auto text = read_state_file(path);
    if (!text) return wrap(text.error(), "read IPAM state");
    if (!*text) return State{};
    return parse_state(std::move(**text), path);
}

Result<void> check_range(const IpamRange& range, const std::string& network) {
    const IpPrefix& subnet = range.subnet;
    std::string where = " of network " + network;
    if (!subnet.address.is_v4() && !subnet.address.is_v6())
        return fail("subnet" + where + " has no address family");
    if (subnet.network() != subnet)
        return fail("subnet " + subnet.str() + where + " has host bits set");
    if (!subnet.contains(range.gateway))
        return fail("gateway " + range.gateway.str() + " is outside subnet " + subnet.str() +
                    where);
    return {};
}

// What a reserved address inside `range` is, or nullptr when it may be handed out.
const char* reserved_as(const IpamRange& range, const IpAddress& address) {
    if (address == range.gateway) return "gateway";
    // For IPv6 this is the subnet-router anycast address (RFC 4291 2.6.1).
    if (address == range.subnet.address) return "network";
    if (address.is_v4() && address == range.subnet.last()) return "broadcast";
    return nullptr;
}

// Drop the allocations `drop(entry)` picks, under the lock; returns what went. The cursors stay,
// so the freed addresses are the last ones allocate() comes back to.
template <class Drop>
Result<std::vector<Allocation>> release_where(const std::string& state_path,
                                              const std::string& lock_path,
                                              const std::string& network, Drop drop) {
    std::vector<Allocation> freed;
    // No file, nothing held; and a removed network's lock file is not created again.
    if (!path_exists(state_path)) return freed;
    auto lock = FileLock::acquire(lock_path, FileLock::Mode::exclusive);
    if (!lock) return wrap(lock.error(), "IPAM of network " + network);
    auto state = load_state(state_path);
    if (!state) return std::unexpected(state.error());
    std::erase_if(state->allocations, [&](const Entry& e) {
        if (!drop(e)) return false;
        freed.push_back({e.address, e.owner_value()});
        return true;
    });
    if (freed.empty()) return freed;
    if (auto r = write_file_atomic(state_path, serialize_state(*state)); !r)
        return wrap(r.error(), "save IPAM state of network " + network);
    return freed;
}

}  // namespace

Ipam::Ipam(std::string state_dir, std::string network)
    : dir_(std::move(state_dir)), network_(std::move(network)) {}

std::string Ipam::state_path() const {
    return dir_ + "/" + network_ + ".json";
}

std::string Ipam::lock_path() const {
    return dir_ + "/" + network_ + ".lock";
}

Result<void> Ipam::check_network_name() const {
    // The name becomes a file name; a slash or dot-name would put state somewhere else.
    if (network_.empty() || network_ == "." || network_ == ".." ||
        network_.find('/') != std::string::npos)
        return fail("invalid network name \"" + network_ + "\" for IPAM");
    return {};
}

Result<IpAddress> Ipam::allocate(const IpamRange& range, const std::string& owner) {
    if (auto r = check_network_name(); !r) return std::unexpected(r.error());
    if (auto r = check_range(range, network_); !r) return std::unexpected(r.error());
    if (owner.empty()) return fail("allocate address on network " + network_ + ": empty owner");
    if (!path_exists(dir_))
        if (auto r = make_dirs(dir_); !r) return wrap(r.error(), "IPAM");
    auto lock = FileLock::acquire(lock_path(), FileLock::Mode::exclusive);
    if (!lock) return wrap(lock.error(), "IPAM of network " + network_);
    auto state = load_state(state_path());
    if (!state) return std::unexpected(state.error());

    const IpPrefix& subnet = range.subnet;
    const bool v4 = subnet.address.is_v4();
    // At most 2^63 for huge IPv6 subnets: plenty of room, and every offset below is valid.
    const uint64_t size = subnet.size();
    const uint64_t gateway = subnet.offset_of(range.gateway);
    const uint64_t broadcast = size - 1;
    auto reserved = [&](uint64_t offset) {
        return offset == 0 || offset == gateway || (v4 && offset == broadcast);
    };
    // Distinct: in a /31 or /32 the gateway or the network is also the broadcast.
    std::vector<uint64_t> reserved_offsets{0, gateway};
    if (v4) reserved_offsets.push_back(broadcast);
    std::ranges::sort(reserved_offsets);
    reserved_offsets.erase(std::ranges::unique(reserved_offsets).begin(), reserved_offsets.end());
    const uint64_t usable = size - reserved_offsets.size();

    // One pass over this subnet's run for the owner's existing address.
    auto [begin, end] = state->run_of(subnet);
    for (auto it = begin; it != end; ++it)
        if (it->held_by(owner)) return it->address;
    // Reserved addresses are in the file only if it was edited by hand or the gateway moved.
    auto taken = static_cast<uint64_t>(end - begin);
    for (uint64_t offset : reserved_offsets)
        if (state->taken(subnet.at(offset))) --taken;
    // Decided up front, so the scan below always finds an address and never walks a whole /8.
    if (taken >= usable)
        return fail("subnet " + subnet.str() + " of network " + network_ + " is exhausted");

    const std::string cursor_key = subnet.str();
    IpAddress* cursor = state->cursor(cursor_key);
    uint64_t candidate = 1;
    if (cursor != nullptr && subnet.contains(*cursor)) {
        uint64_t last = subnet.offset_of(*cursor);
        if (last < size) candidate = last + 1;
    }
    // Each step passes a reserved or taken address, so this ends within taken + 3 steps.
    IpAddress address;
    for (;; ++candidate) {
        if (candidate >= size) candidate = 0;
        if (reserved(candidate)) continue;
        address = subnet.at(candidate);
        if (!state->taken(address)) break;
    }

    state->add(address, owner);
    if (cursor != nullptr)
        *cursor = address;
    else
        state->cursors.emplace_back(cursor_key, address);
    if (auto r = write_file_atomic(state_path(), serialize_state(*state)); !r)
        return wrap(r.error(), "save IPAM state of network " + network_);
    return address;
}

Result<IpAddress> Ipam::allocate_static(const IpamRange& range, const IpAddress& address,
                                        const std::string& owner) {
    if (auto r = check_network_name(); !r) return std::unexpected(r.error());
    if (auto r = check_range(range, network_); !r) return std::unexpected(r.error());
    if (owner.empty()) return fail("allocate address on network " + network_ + ": empty owner");
    std::string where = " of network " + network_;
    if (!range.subnet.contains(address))
        return fail("address " + address.str() + " is outside subnet " + range.subnet.str() +
                    where);
    if (const char* what = reserved_as(range, address))
        return fail("address " + address.str() + " is the " + what + " address" + where);
    if (!path_exists(dir_))
        if (auto r = make_dirs(dir_); !r) return wrap(r.error(), "IPAM");
    auto lock = FileLock::acquire(lock_path(), FileLock::Mode::exclusive);
    if (!lock) return wrap(lock.error(), "IPAM of network " + network_);
    auto state = load_state(state_path());
    if (!state) return std::unexpected(state.error());

    auto [begin, end] = state->run_of(range.subnet);
    for (auto it = begin; it != end; ++it) {
        if (it->address == address) {
            if (it->held_by(owner)) return address;
            return fail("address " + address.str() + " is already in use by sandbox " +
                        short_id(it->owner_value()));
        }
    }
    // One address per family and network: a second one would outlive the attachment that
    // asked for it, since nothing would ever release it separately.
    for (auto it = begin; it != end; ++it)
        if (it->held_by(owner))
            return fail("sandbox " + short_id(owner) + " already holds address " +
                        it->address.str() + where);

    // The cursor stays: a user's pick in the middle of the subnet should not make the next
    // dynamic address jump there.
    state->add(address, owner);
    if (auto r = write_file_atomic(state_path(), serialize_state(*state)); !r)
        return wrap(r.error(), "save IPAM state of network " + network_);
    return address;
}

Result<void> Ipam::release(const std::string& owner) {
    if (auto r = check_network_name(); !r) return std::unexpected(r.error());
    auto freed = release_where(state_path(), lock_path(), network_,
                               [&](const Entry& e) { return e.held_by(owner); });
    if (!freed) return std::unexpected(freed.error());
    return {};
}

Result<std::vector<Allocation>> Ipam::release_all_except(const std::set<std::string>& live) {
    if (auto r = check_network_name(); !r) return std::unexpected(r.error());
    return release_where(state_path(), lock_path(), network_,
                         [&](const Entry& e) { return !live.contains(e.owner_value()); });
}

Result<std::vector<Allocation>> Ipam::list() const {
    if (auto r = check_network_name(); !r) return std::unexpected(r.error());
    auto state = load_state(state_path());
    if (!state) return std::unexpected(state.error());
    std::vector<Allocation> out;
    out.reserve(state->allocations.size());
    for (const auto& e : state->allocations) out.push_back({e.address, e.owner_value()});
    return out;
}

Result<void> Ipam::remove_all() {
    if (auto r = check_network_name(); !r) return std::unexpected(r.error());
    if (!path_exists(dir_)) return {};
    std::string context = "remove IPAM state of network " + network_;
    // Held while the files go, so no allocation is half-way through its write meanwhile.
    auto lock = FileLock::acquire(lock_path(), FileLock::Mode::exclusive);
    if (!lock) return wrap(lock.error(), context);
    if (auto r = remove_file(state_path()); !r) return wrap(r.error(), context);
    // Temporaries of a write_file_atomic that died: "<network>.json.<pid>.tmp". The pid must be
    // all digits, so that network "a" never takes "a.json.json.1.tmp" of network "a.json".
    auto names = list_dir(dir_);
    if (!names) return wrap(names.error(), context);
    std::string prefix = network_ + ".json.";
    for (const auto& name : *names) {
        if (name.size() <= prefix.size() + 4 || !name.starts_with(prefix) ||
            !name.ends_with(".tmp"))
            continue;
        std::string_view pid(name);
        pid = pid.substr(prefix.size(), pid.size() - prefix.size() - 4);
        if (pid.empty() || !std::ranges::all_of(pid, [](char c) { return c >= '0' && c <= '9'; }))
            continue;
        if (auto r = remove_file(dir_ + "/" + name); !r) return wrap(r.error(), context);
    }
    if (auto r = remove_file(lock_path()); !r) return wrap(r.error(), context);
    return {};
}

}  // namespace podnet
