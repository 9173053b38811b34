#include "overlay/etcd_store.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <string>
#include <utility>

namespace podnet::overlay {

namespace {

using nlohmann::json;

// Rounds of read, choose, compare-and-put before acquire or renew give up: each lost round
// means another node changed the keys between our read and our transaction.
constexpr int max_attempts = 20;

// gRPC status codes, as the gateway reports them in an error body's "code".
constexpr int grpc_not_found = 5;
constexpr int grpc_unavailable = 14;  // e.g. "etcdserver: no leader": another member may serve

constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (size_t i = 0; i < bytes.size(); i += 3) {
        size_t n = std::min<size_t>(3, bytes.size() - i);
        uint32_t v = 0;
        for (size_t k = 0; k < 3; ++k)
            v = v << 8 | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
        for (size_t k = 0; k < 4; ++k)
            out.push_back(k <= n ? base64_alphabet[v >> (18 - 6 * k) & 63] : '=');
    }
    return out;
}

std::optional<std::string> unbase64(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (size_t i = 0; i < text.size(); i += 4) {
        uint32_t v = 0;
        size_t pad = 0;
        for (size_t k = 0; k < 4; ++k) {
            char c = text[i + k];
            size_t at = base64_alphabet.find(c);
            if (c == '=' && i + 4 == text.size() && k >= 2) {
                ++pad;
                at = 0;
            } else if (at == std::string_view::npos || pad > 0) {
                return std::nullopt;
            }
            v = v << 6 | static_cast<uint32_t>(at);
        }
        for (size_t k = 0; k < 3 - pad; ++k) out.push_back(static_cast<char>(v >> (16 - 8 * k)));
    }
    return out;
}

// The gateway writes int64 fields as JSON strings ("mod_revision": "7") and leaves out zeros.
int64_t int_field(const json& object, const char* field) {
    auto it = object.find(field);
    if (it == object.end()) return 0;
    if (it->is_number_integer()) return it->get<int64_t>();
    if (!it->is_string()) return 0;
    const auto& text = it->get_ref<const std::string&>();
    int64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
}

// The store's revision when etcd answered: {"header": {"revision": "7", ...}, ...}.
int64_t header_revision(const json& answer) {
    auto header = answer.find("header");
    return header != answer.end() && header->is_object() ? int_field(*header, "revision") : 0;
}

std::string text_field(const json& object, const char* field) {
    auto it = object.find(field);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Lease IDs as etcdctl prints them.
std::string hex(int64_t id) {
    std::array<char, 20> buf{};
    auto end = std::to_chars(buf.data(), buf.data() + buf.size(), static_cast<uint64_t>(id), 16);
    return std::string(buf.data(), end.ptr);
}

// etcd's range_end for "every key starting with prefix": the prefix with its last byte + 1.
std::string prefix_end(std::string prefix) {
    while (!prefix.empty()) {
        if (static_cast<unsigned char>(prefix.back()) != 0xff) {
            prefix.back() = static_cast<char>(prefix.back() + 1);
            return prefix;
        }
        prefix.pop_back();
    }
    return std::string(1, '\0');  // every key
}

// The key still has the revision we read; 0 means it must not exist.
json unchanged(const std::string& key, int64_t mod_revision) {
    if (mod_revision == 0)
        return {{"key", base64(key)},
                {"result", "EQUAL"},
                {"target", "CREATE"},
                {"create_revision", "0"}};
    return {{"key", base64(key)},
            {"result", "EQUAL"},
            {"target", "MOD"},
            {"mod_revision", std::to_string(mod_revision)}};
}

json put(const std::string& key, const std::string& value, int64_t etcd_lease) {
    // A put without "lease" would detach the key from its lease: always name one.
    return {
        {"request_put",
         {{"key", base64(key)}, {"value", base64(value)}, {"lease", std::to_string(etcd_lease)}}}};
}

json remove(const std::string& key) {
    return {{"request_delete_range", {{"key", base64(key)}}}};
}

bool curl_ready() {
    // Once per process, before the first handle; a function-local static makes racing
    // first callers wait for it.
    static const bool ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    return ready;
}

size_t append_body(char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
}

}  // namespace

// One libcurl handle, kept so that its connection is reused between calls (the agent lists
// every time the leases change). Not shared between threads: a mutex of the store serializes
// its use.
class EtcdLeaseStore::Http {
  public:
    struct Failure {
        std::string line;  // "etcd URL: WHAT: why"
        int grpc_code = 0;
    };

    Http(std::vector<std::string> endpoints, int timeout_ms)
        : endpoints_(std::move(endpoints)), timeout_ms_(timeout_ms) {
        for (auto& e : endpoints_)
            while (e.ends_with('/')) e.pop_back();
        if (!curl_ready()) return;
        curl_ = curl_easy_init();
        if (curl_ == nullptr) return;
        headers_ = curl_slist_append(headers_, "Content-Type: application/json");
        // curl would otherwise wait for "100 Continue" before sending a body over 1 KiB.
        headers_ = curl_slist_append(headers_, "Expect:");
        curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
        curl_easy_setopt(curl_, CURLOPT_POST, 1L);
        curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
        curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_ms));
        // Otherwise a synchronous resolver times DNS out with SIGALRM: not thread-safe.
        curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
        // etcd is reached directly: an http_proxy meant for image pulls must not apply.
        curl_easy_setopt(curl_, CURLOPT_PROXY, "");
        curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, append_body);
    }

    ~Http() {
        if (curl_ != nullptr) curl_easy_cleanup(curl_);
        curl_slist_free_all(headers_);
    }

    Http(const Http&) = delete;
    Http& operator=(const Http&) = delete;

    // POSTs `body` to `path` at the first endpoint that answers, starting with the one that
    // answered last; `what` names the operation in errors ("range /coreos.com/network/...").
    std::expected<json, Failure> post(std::string_view path, const json& body,
                                      const std::string& what) {
        std::string payload = body.dump();
        return first_answer<json>(what, [&](const std::string& endpoint, bool& try_next) {
            return exchange(endpoint, path, payload, what, try_next);
        });
    }

    Result<json> call(std::string_view path, const json& body, const std::string& what) {
        auto answer = post(path, body, what);
        if (!answer) return fail(answer.error().line);
        return std::move(*answer);
    }

    // POSTs a watch's create_request to /v3/watch and reads the stream it answers with until
    // a message carries events (true) or `timeout_ms` passed (false). A watch that etcd
    // cancels (its start revision compacted, say) is a failure.
    std::expected<bool, Failure> watch(const json& body, const std::string& what, int timeout_ms) {
        std::string payload = body.dump();
        return first_answer<bool>(what, [&](const std::string& endpoint, bool& try_next) {
            return stream(endpoint, payload, what, timeout_ms, try_next);
        });
    }

  private:
    // What a watch stream said so far: one JSON object per line, each {"result": {...}}
    // (the first one "created", without events) or {"error": {...}}.
    struct Stream {
        std::string pending;  // the start of a line not ended yet
        bool created = false;
        bool changed = false;
        std::optional<std::string> failure;  // why etcd ended the watch
        int grpc_code = 0;

        // false: stop the transfer, the answer is known.
        bool take(std::string_view line) {
            auto doc = json::parse(line, nullptr, false);
            if (!doc.is_object()) return true;
            if (auto error = doc.find("error"); error != doc.end()) {
                failure = error->is_object() ? text_field(*error, "message") : "";
                if (error->is_object())
                    grpc_code = static_cast<int>(int_field(*error, "grpc_code"));
                if (failure->empty()) failure = "the watch failed";
                return false;
            }
            auto result = doc.find("result");
            if (result == doc.end() || !result->is_object()) return true;
            if (auto c = result->find("created"); c != result->end() && c->is_boolean())
                created = created || c->get<bool>();
            if (auto c = result->find("canceled");
                c != result->end() && c->is_boolean() && c->get<bool>()) {
                int64_t compacted = int_field(*result, "compact_revision");
                failure = compacted != 0 ? "the start revision was compacted (etcd keeps from " +
                                               std::to_string(compacted) + " on)"
                                         : "etcd canceled the watch";
                if (auto why = text_field(*result, "cancel_reason"); !why.empty())
                    *failure += ": " + why;
                return false;
            }
            auto events = result->find("events");
            changed = events != result->end() && events->is_array() && !events->empty();
            return !changed;
        }

        // Every whole line in `pending`; false as take().
        bool take_lines() {
            for (size_t end; (end = pending.find('\n')) != std::string::npos;) {
                std::string line = pending.substr(0, end);
                pending.erase(0, end + 1);
                if (!take(line)) return false;
            }
            return true;
        }
    };

    static size_t stream_body(char* data, size_t size, size_t count, void* out) {
        auto* s = static_cast<Stream*>(out);
        s->pending.append(data, size * count);
        return s->take_lines() ? size * count : 0;  // 0 makes curl abort the transfer
    }

    // Runs `exchange(endpoint, try_next)` at each endpoint in turn, starting with the one that
    // answered last, while it fails with try_next set.
    template <typename T, typename Exchange>
    std::expected<T, Failure> first_answer(const std::string& what, Exchange&& exchange) {
        if (endpoints_.empty()) return std::unexpected(Failure{"etcd: " + what + ": no endpoints"});
        if (curl_ == nullptr)
            return std::unexpected(Failure{"etcd: " + what + ": libcurl did not initialize"});
        std::string failures;
        for (size_t n = 0; n < endpoints_.size(); ++n) {
            size_t i = (current_ + n) % endpoints_.size();
            bool try_next = false;
            std::expected<T, Failure> answer = exchange(endpoints_[i], try_next);
            if (answer) {
                current_ = i;
                return answer;
            }
            if (!try_next) return answer;
            failures += (failures.empty() ? "" : "; ") + answer.error().line;
        }
        return std::unexpected(Failure{failures});
    }

    // Nothing reached etcd, or the answer never came: another member may do better.
    // Retrying elsewhere is safe for what this store sends: transactions compare revisions,
    // deletes and keepalives repeat harmlessly, a repeated grant only leaves an unused lease
    // to expire, a watch only reads.
    static bool worth_another(CURLcode code) {
        return code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_CONNECT ||
               code == CURLE_OPERATION_TIMEDOUT || code == CURLE_SEND_ERROR ||
               code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING;
    }

    // An answer with an HTTP status other than 200, or with an error in its body.
    static Failure refusal(const std::string& head, long status, const json& doc,
                           const std::string& response, bool& try_next) {
        // Errors come as {"error": "...", "message": "...", "code": 5}, or inside a stream
        // as {"error": {"grpc_code": 5, "message": "..."}} with status 200.
        const json* error = doc.is_object() && doc.contains("error") ? &doc["error"] : nullptr;
        std::string why;
        int grpc_code = 0;
        if (error != nullptr && error->is_object()) {
            why = text_field(*error, "message");
            grpc_code = static_cast<int>(int_field(*error, "grpc_code"));
        } else if (doc.is_object()) {
            why = text_field(doc, "message");
            if (why.empty()) why = text_field(doc, "error");
            grpc_code = static_cast<int>(int_field(doc, "code"));
        }
        if (why.empty()) {
            std::string first = response.substr(0, std::min(response.find('\n'), size_t{200}));
            why = "HTTP " + std::to_string(status) + (first.empty() ? "" : ": " + first);
        }
        try_next = grpc_code == grpc_unavailable;
        return Failure{head + why, grpc_code};
    }

    std::expected<json, Failure> exchange(const std::string& endpoint, std::string_view path,
                                          const std::string& payload, const std::string& what,
                                          bool& try_next) {
        std::string url = endpoint + std::string(path);
        std::string response;
        curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, payload.c_str());
        curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(payload.size()));
        curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &response);
        CURLcode code = curl_easy_perform(curl_);
        std::string head = "etcd " + endpoint + ": " + what + ": ";
        if (code != CURLE_OK) {
            try_next = worth_another(code);
            return std::unexpected(Failure{head + curl_easy_strerror(code)});
        }
        long status = 0;
        curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
        auto doc = json::parse(response, nullptr, false);
        if (doc.is_discarded())  // a stream (keepalive) may carry one object per line
            doc = json::parse(response.substr(0, response.find('\n')), nullptr, false);
        if (status != 200 || (doc.is_object() && doc.contains("error")))
            return std::unexpected(refusal(head, status, doc, response, try_next));
        if (!doc.is_object())
            return std::unexpected(Failure{head + "the answer is not a JSON object"});
        return doc;
    }

    std::expected<bool, Failure> stream(const std::string& endpoint, const std::string& payload,
                                        const std::string& what, int timeout_ms, bool& try_next) {
        std::string url = endpoint + "/v3/watch";
        Stream s;
        curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, payload.c_str());
        curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(payload.size()));
        curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, stream_body);
        curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
        CURLcode code = curl_easy_perform(curl_);
        curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, append_body);
        curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms_));
        std::string head = "etcd " + endpoint + ": " + what + ": ";
        if (s.changed) return true;  // the transfer was aborted on purpose
        if (s.failure) {
            try_next = s.grpc_code == grpc_unavailable;
            return std::unexpected(Failure{head + *s.failure, s.grpc_code});
        }
        // The stream stays open while nothing changes: its end is the timeout. A member that
        // never answered within it (unreachable without refusing) counts the same: the next
        // range will time out and say so.
        if (code == CURLE_OPERATION_TIMEDOUT) return false;
        if (code != CURLE_OK) {
            try_next = worth_another(code);
            return std::unexpected(Failure{head + curl_easy_strerror(code)});
        }
        long status = 0;
        curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
        auto doc = json::parse(s.pending, nullptr, false);  // an error has no line end
        if (status != 200 || (doc.is_object() && doc.contains("error")))
            return std::unexpected(refusal(head, status, doc, s.pending, try_next));
        return std::unexpected(Failure{head + "etcd ended the watch stream"});
    }

    std::vector<std::string> endpoints_;
    int timeout_ms_;      // of each request but a watch
    size_t current_ = 0;  // the endpoint that answered last
    CURL* curl_ = nullptr;
    curl_slist* headers_ = nullptr;
};

EtcdLeaseStore::EtcdLeaseStore(std::vector<std::string> endpoints, std::string prefix,
                               OverlayConfig config, int timeout_ms)
    : prefix_(std::move(prefix)),
      config_(std::move(config)),
      http_(std::make_unique<Http>(endpoints, timeout_ms)),
      watch_http_(std::make_unique<Http>(std::move(endpoints), timeout_ms)) {
    while (prefix_.ends_with('/')) prefix_.pop_back();
}

EtcdLeaseStore::~EtcdLeaseStore() = default;

Result<EtcdLeaseStore::Contents> EtcdLeaseStore::read(int64_t now_ms, const std::string& only) {
    std::string dir = subnets_dir();
    json body = {{"key", base64(only.empty() ? dir : dir + only)}};
    if (only.empty()) body["range_end"] = base64(prefix_end(dir));
    auto answer = http_->call("/v3/kv/range", body, "range " + dir + only);
    if (!answer) return std::unexpected(answer.error());
    // A read of one key says nothing of the others.
    if (only.empty()) seen_revision_ = header_revision(*answer);
    Contents c;
    auto kvs = answer->find("kvs");
    if (kvs == answer->end() || !kvs->is_array()) return c;
    for (const auto& kv : *kvs) {
        if (!kv.is_object()) continue;
        auto key = unbase64(text_field(kv, "key"));
        if (!key) continue;
        Record r;
        r.name = key->starts_with(dir) ? key->substr(dir.size()) : *key;
        r.mod_revision = int_field(kv, "mod_revision");
        r.etcd_lease = int_field(kv, "lease");
        auto value = unbase64(text_field(kv, "value"));  // absent when empty
        auto doc = value ? json::parse(*value, nullptr, false) : json(json::value_t::discarded);
        std::string why;
        if (doc.is_discarded()) {
            why = "lease " + r.name + ": not JSON";
        } else if (auto lease = lease_from_json(doc, r.name)) {
            r.lease = std::move(*lease);
        } else {
            why = lease.error().message;
        }
        if (!r.lease) {
            c.parsed.warnings.push_back(why);
            if (auto subnet = parse_subnet_key(r.name)) c.unreadable.push_back(*subnet);
        } else if (!r.lease->expired(now_ms)) {
            // An expired record stays in etcd until its etcd lease runs out; it is free.
            c.parsed.leases.push_back(*r.lease);
        }
        c.records.push_back(std::move(r));
    }
    return c;
}

Result<bool> EtcdLeaseStore::transact(json compare, json success, const std::string& key) {
    auto answer = http_->call("/v3/kv/txn",
                              {{"compare", std::move(compare)}, {"success", std::move(success)}},
                              "txn " + key);
    if (!answer) return std::unexpected(answer.error());
    auto won = answer->find("succeeded");  // left out when false
    bool succeeded = won != answer->end() && won->is_boolean() && won->get<bool>();
    if (succeeded) wrote(*answer);  // every success branch puts
    return succeeded;
}

Result<int64_t> EtcdLeaseStore::grant(int ttl_seconds) {
    std::string what = "grant a lease of " + std::to_string(ttl_seconds) + " s";
    auto answer = http_->call("/v3/lease/grant", {{"TTL", std::to_string(ttl_seconds)}}, what);
    if (!answer) return std::unexpected(answer.error());
    int64_t id = int_field(*answer, "ID");
    if (id == 0) return fail("etcd: " + what + ": no lease ID in the answer");
    return id;
}

Result<bool> EtcdLeaseStore::keep_alive(int64_t id) {
    auto answer = http_->call("/v3/lease/keepalive", {{"ID", std::to_string(id)}},
                              "keepalive lease " + hex(id));
    if (!answer) return std::unexpected(answer.error());
    auto result = answer->find("result");
    // An expired or unknown lease is answered with no TTL (zero), not an error.
    return result != answer->end() && result->is_object() && int_field(*result, "TTL") > 0;
}

Result<void> EtcdLeaseStore::revoke(int64_t id) {
    auto answer =
        http_->post("/v3/lease/revoke", {{"ID", std::to_string(id)}}, "revoke lease " + hex(id));
    if (!answer && answer.error().grpc_code != grpc_not_found) return fail(answer.error().line);
    return {};
}

void EtcdLeaseStore::forget(int64_t id) {
    if (id != 0) (void)revoke(id);
}

void EtcdLeaseStore::wrote(const json& answer) {
    // Each write that changes keys makes one revision: the one just after the last read
    // means nobody else wrote in between, so the watch need not report this write back.
    if (int64_t revision = header_revision(answer);
        seen_revision_ != 0 && revision == seen_revision_ + 1)
        seen_revision_ = revision;
}

Result<bool> EtcdLeaseStore::wait_for_change(int timeout_ms) {
    int64_t seen = 0;
    {
        std::lock_guard lock(mutex_);
        seen = seen_revision_;
    }
    if (seen == 0) return true;  // nothing read yet
    if (timeout_ms <= 0) return false;
    std::string dir = subnets_dir();
    json body = {{"create_request",
                  {{"key", base64(dir)},
                   {"range_end", base64(prefix_end(dir))},
                   {"start_revision", std::to_string(seen + 1)}}}};
    std::lock_guard lock(watch_mutex_);
    auto changed = watch_http_->watch(
        body, "watch " + dir + " from revision " + std::to_string(seen + 1), timeout_ms);
    if (!changed) return fail(changed.error().line);
    return *changed;
}

Result<Lease> EtcdLeaseStore::acquire(const LeaseRequest& request) {
    std::lock_guard lock(mutex_);
    int64_t etcd_lease = 0;  // granted once, used by every round
    for (int attempt = 0; attempt < max_attempts; ++attempt) {
        int64_t now = now_unix_ms();
        auto c = read(now);
        if (!c) return std::unexpected(c.error());
        auto subnet = choose_subnet(config_, c->parsed.leases, c->unreadable, request.public_ip);
        if (!subnet) {
            forget(etcd_lease);
            return std::unexpected(subnet.error());
        }
        std::string name = subnet_key(*subnet);
        if (etcd_lease == 0) {
            auto id = grant(request.ttl_seconds);
            if (!id) return std::unexpected(id.error());
            etcd_lease = *id;
        }
        Lease lease = granted_lease(request, *subnet, now);
        // The chosen key as read: absent, expired, or this node's own (renewed in place).
        int64_t read_revision = 0;
        for (const auto& r : c->records)
            if (r.name == name) read_revision = r.mod_revision;
        json compare = json::array({unchanged(subnets_dir() + name, read_revision)});
        json success =
            json::array({put(subnets_dir() + name, lease_to_json(lease).dump(), etcd_lease)});
        // Another lease of this node (an old subnet length, say) goes: one subnet per node.
        std::vector<std::string> dropped;
        for (const auto& r : c->records)
            if (r.name != name && r.lease && !r.lease->expired(now) &&
                r.lease->public_ip == request.public_ip) {
                compare.push_back(unchanged(subnets_dir() + r.name, r.mod_revision));
                success.push_back(remove(subnets_dir() + r.name));
                dropped.push_back(r.name);
            }
        auto won = transact(std::move(compare), std::move(success), subnets_dir() + name);
        if (!won) return std::unexpected(won.error());
        if (!*won) continue;  // another node got there first: read again
        dropped.push_back(name);
        for (const auto& d : dropped) {
            auto old = granted_.find(d);
            if (old == granted_.end()) continue;
            if (old->second.id != etcd_lease) forget(old->second.id);
            granted_.erase(old);
        }
        granted_[name] = {etcd_lease, request.ttl_seconds};
        return lease;
    }
    forget(etcd_lease);
    return fail("acquire a subnet for " + request.public_ip.str() + ": other nodes changed " +
                subnets_dir() + " between read and write " + std::to_string(max_attempts) +
                " times in a row");
}

Result<Lease> EtcdLeaseStore::renew(const Lease& lease, int ttl_seconds) {
    std::lock_guard lock(mutex_);
    std::string name = subnet_key(lease.subnet);
    std::string key = subnets_dir() + name;
    int64_t fresh = 0;  // an etcd lease granted here, used by every round
    for (int attempt = 0; attempt < max_attempts; ++attempt) {
        int64_t now = now_unix_ms();
        auto c = read(now, name);
        if (!c) return std::unexpected(c.error());
        const Record* held = c->records.empty() ? nullptr : &c->records.front();
        if (held == nullptr || !held->lease || held->lease->expired(now) ||
            !(held->lease->public_ip == lease.public_ip)) {
            forget(fresh);
            return fail("lease " + name + " is no longer held by " + lease.public_ip.str());
        }
        // Keep the key's etcd lease alive when it is the one this object put it with, for
        // the same TTL (a keepalive restores the granted TTL); otherwise attach a new one.
        auto known = granted_.find(name);
        int64_t etcd_lease = fresh;
        if (etcd_lease == 0 && known != granted_.end() && known->second.id == held->etcd_lease &&
            known->second.ttl_seconds == ttl_seconds) {
            auto alive = keep_alive(known->second.id);
            if (!alive) return std::unexpected(alive.error());
            if (*alive) etcd_lease = known->second.id;
        }
        if (etcd_lease == 0) {
            auto id = grant(ttl_seconds);
            if (!id) return std::unexpected(id.error());
            etcd_lease = fresh = *id;
        }
        Lease renewed = *held->lease;
        renewed.backend_data = lease.backend_data;
        renewed.renewed_ms = now;
        renewed.expiration_ms = now + int64_t{ttl_seconds} * 1000;
        auto won =
            transact(json::array({unchanged(key, held->mod_revision)}),
                     json::array({put(key, lease_to_json(renewed).dump(), etcd_lease)}), key);
        if (!won) return std::unexpected(won.error());
        if (!*won) continue;  // changed since read: read again, it may not be ours any more
        if (known != granted_.end() && known->second.id != etcd_lease) forget(known->second.id);
        granted_[name] = {etcd_lease, ttl_seconds};
        return renewed;
    }
    forget(fresh);
    return fail("renew lease " + name + ": " + key + " changed between read and write " +
                std::to_string(max_attempts) + " times in a row");
}

Result<LeaseList> EtcdLeaseStore::list() {
    std::lock_guard lock(mutex_);
    auto c = read(now_unix_ms());
    if (!c) return std::unexpected(c.error());
    return std::move(c->parsed);
}

Result<void> EtcdLeaseStore::release(const IpPrefix& subnet) {
    std::lock_guard lock(mutex_);
    std::string name = subnet_key(subnet);
    std::string key = subnets_dir() + name;
    auto deleted = http_->call("/v3/kv/deleterange", {{"key", base64(key)}}, "deleterange " + key);
    if (!deleted) return std::unexpected(deleted.error());
    if (int_field(*deleted, "deleted") > 0) wrote(*deleted);  // else the revision stayed
    auto known = granted_.find(name);
    if (known == granted_.end()) return {};
    if (auto r = revoke(known->second.id); !r) return r;
    granted_.erase(known);
    return {};
}

}  // namespace podnet::overlay
