#include "common/ip.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>

namespace podnet {

bool IpAddress::is_v4() const {
    return family == AF_INET;
}
bool IpAddress::is_v6() const {
    return family == AF_INET6;
}

std::string IpAddress::str() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family != AF_INET && family != AF_INET6) return "<none>";
    ::inet_ntop(family, bytes.data(), buf, sizeof buf);
    return buf;
}

Result<IpAddress> parse_ip(std::string_view text) {
    std::string s(text);
    // inet_pton stops at a NUL; text that carries one (JSON "\u0000") is not an address.
    if (s.find('\0') != std::string::npos) return fail("invalid IP address (contains NUL)");
    IpAddress a;
    if (::inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET;
        return a;
    }
    if (::inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET6;
        return a;
    }
    return fail("invalid IP address \"" + s + "\"");
}

namespace {

IpAddress masked(const IpAddress& a, int length) {
    IpAddress out = a;
    int bits = static_cast<int>(a.size()) * 8;
    for (int i = length; i < bits; ++i)
        out.bytes[static_cast<size_t>(i / 8)] &= ~(0x80u >> (i % 8));
    return out;
}

}  // namespace

std::string IpPrefix::str() const {
    return address.str() + "/" + std::to_string(length);
}

IpPrefix IpPrefix::network() const {
    return IpPrefix{masked(address, length), length};
}

bool IpPrefix::contains(const IpAddress& a) const {
    return a.family == address.family && masked(a, length) == masked(address, length);
}

bool IpPrefix::overlaps(const IpPrefix& other) const {
    if (other.address.family != address.family) return false;
    int shorter = std::min(length, other.length);
    return masked(address, shorter) == masked(other.address, shorter);
}

uint64_t IpPrefix::size() const {
    int host_bits = static_cast<int>(address.size()) * 8 - length;
    if (host_bits >= 63) return uint64_t{1} << 63;
    return uint64_t{1} << host_bits;
}

IpAddress IpPrefix::at(uint64_t offset) const {
    IpAddress out = network().address;
    // Add `offset` to the low 64 bits, big-endian, carrying.
    size_t n = out.size();
    unsigned carry = 0;
    for (size_t i = 0; i < n; ++i) {
        size_t idx = n - 1 - i;
        unsigned add = i < 8 ? static_cast<unsigned>((offset >> (8 * i)) & 0xff) : 0;
        unsigned sum = out.bytes[idx] + add + carry;
        out.bytes[idx] = static_cast<uint8_t>(sum & 0xff);
        carry = sum >> 8;
    }
    return out;
}

uint64_t IpPrefix::offset_of(const IpAddress& a) const {
    IpAddress base = network().address;
    size_t n = a.size();
    uint64_t value = 0;
    int borrow = 0;
    for (size_t i = 0; i < n && i < 8; ++i) {
        size_t idx = n - 1 - i;
        int diff = static_cast<int>(a.bytes[idx]) - static_cast<int>(base.bytes[idx]) - borrow;
        borrow = diff < 0 ? 1 : 0;
        if (diff < 0) diff += 256;
        value |= static_cast<uint64_t>(diff) << (8 * i);
    }
    return value;
}

namespace {
bool bit_at(const IpAddress& a, int bit) {
    return (a.bytes[static_cast<size_t>(bit / 8)] >> (7 - bit % 8)) & 1;
}
}  // namespace

IpPrefix IpPrefix::subnet(int sub_length, uint64_t index) const {
    IpPrefix out{network().address, sub_length};
    for (int bit = length; bit < sub_length; ++bit) {
        int k = sub_length - 1 - bit;  // which bit of index lands here
        if (k < 64 && ((index >> k) & 1))
            out.address.bytes[static_cast<size_t>(bit / 8)] |=
                static_cast<uint8_t>(0x80u >> (bit % 8));
    }
    return out;
}

uint64_t IpPrefix::subnet_index(const IpAddress& a, int sub_length) const {
    uint64_t value = 0;
    for (int bit = length; bit < sub_length; ++bit) value = (value << 1) | (bit_at(a, bit) ? 1 : 0);
    return value;
}

IpAddress IpPrefix::last() const {
    IpAddress out = address;
    int bits = static_cast<int>(address.size()) * 8;
    for (int i = length; i < bits; ++i) out.bytes[static_cast<size_t>(i / 8)] |= (0x80u >> (i % 8));
    return out;
}

Result<IpPrefix> parse_prefix(std::string_view text, bool network_only) {
    // Appended, not "\"" + std::string(text): g++ 12 at -O3 warns on that (-Wrestrict, GCC
    // bug 105329).
    std::string quoted = "\"";
    quoted += text;
    quoted += '"';
    auto slash = text.find('/');
    if (slash == std::string_view::npos)
        return fail("invalid CIDR " + quoted + ": expected ADDRESS/LENGTH");
    auto address = parse_ip(text.substr(0, slash));
    if (!address) return fail("invalid CIDR " + quoted + ": bad address");
    std::string_view len_text = text.substr(slash + 1);
    int length = -1;
    if (len_text.size() > 1 && len_text.front() == '0')
        return fail("invalid CIDR " + quoted + ": prefix length has a leading zero");
    auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), length);
    int max = static_cast<int>(address->size()) * 8;
    if (ec != std::errc() || end != len_text.data() + len_text.size() || length < 0 || length > max)
        return fail("invalid CIDR " + quoted + ": prefix length must be 0.." + std::to_string(max));
    IpPrefix prefix{*address, length};
    if (network_only && prefix.network().address != prefix.address)
        return fail("invalid CIDR " + quoted + ": host bits are set (network is " +
                    prefix.network().str() + ")");
    return prefix;
}

}  // namespace podnet
