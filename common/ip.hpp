#pragma once
// IPv4/IPv6 addresses and prefixes, parsed strictly: errors say which text and why.

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace podnet {

struct IpAddress {
    int family = 0;                   // AF_INET or AF_INET6
    std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4

    [[nodiscard]] bool is_v4() const;
    [[nodiscard]] bool is_v6() const;
    [[nodiscard]] size_t size() const { return is_v4() ? 4 : 16; }
    [[nodiscard]] std::string str() const;
    auto operator<=>(const IpAddress&) const = default;
};

// An address with a prefix length. For a network ("10.0.0.0/24") the host bits are zero; for an
// interface address ("10.0.0.1/24") they need not be.
struct IpPrefix {
    IpAddress address;
    int length = 0;

    [[nodiscard]] std::string str() const;   // "10.0.0.0/24"
    [[nodiscard]] IpPrefix network() const;  // host bits cleared
    [[nodiscard]] bool contains(const IpAddress& a) const;
    [[nodiscard]] bool overlaps(const IpPrefix& other) const;
    // Number of addresses, saturated at 2^63 (IPv6 prefixes are huge).
    [[nodiscard]] uint64_t size() const;
    // network() + offset (offset < size()).
    [[nodiscard]] IpAddress at(uint64_t offset) const;
    // a - network() for an address inside the prefix.
    [[nodiscard]] uint64_t offset_of(const IpAddress& a) const;
    // The `index`-th /sub_length subnet inside this prefix, counted from 0. Works on the bits
    // between the two lengths, so IPv6 subnets far wider than 2^64 addresses are fine; at most
    // 63 such bits (index is 64-bit).
    [[nodiscard]] IpPrefix subnet(int sub_length, uint64_t index) const;
    // Which /sub_length subnet of this prefix holds `a`: the inverse of subnet().
    [[nodiscard]] uint64_t subnet_index(const IpAddress& a, int sub_length) const;
    // Last address (the IPv4 broadcast).
    [[nodiscard]] IpAddress last() const;
    auto operator<=>(const IpPrefix&) const = default;
};

[[nodiscard]] Result<IpAddress> parse_ip(std::string_view text);
// "10.0.0.0/24"; with `network_only`, host bits must be zero ("10.0.0.1/24" is refused).
[[nodiscard]] Result<IpPrefix> parse_prefix(std::string_view text, bool network_only);

}  // namespace podnet
