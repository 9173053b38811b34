// The bytes NftElementWriter sends: the kernel's layout for concatenated keys and values, and a
// well-formed nf_tables batch. (That the kernel takes them is shown by the integration tests,
// which publish host ports through it and send traffic.)

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

#include "common/ip.hpp"
#include "portmap/portmap.hpp"

using namespace podnet;

namespace {

struct Message {
    uint16_t type, flags;
    uint32_t seq;
    std::vector<uint8_t> payload;  // after nlmsghdr + nfgenmsg
};

std::vector<Message> split_batch(const std::vector<uint8_t>& batch) {
    std::vector<Message> out;
    size_t at = 0;
    while (at + sizeof(nlmsghdr) <= batch.size()) {
        nlmsghdr h;
        std::memcpy(&h, batch.data() + at, sizeof h);
        REQUIRE(h.nlmsg_len >= NLMSG_LENGTH(sizeof(nfgenmsg)));
        REQUIRE(at + h.nlmsg_len <= batch.size());
        size_t body = at + NLMSG_LENGTH(sizeof(nfgenmsg));
        out.push_back({h.nlmsg_type,
                       h.nlmsg_flags,
                       h.nlmsg_seq,
                       {batch.begin() + static_cast<long>(body),
                        batch.begin() + static_cast<long>(at + h.nlmsg_len)}});
        at += NLMSG_ALIGN(h.nlmsg_len);
    }
    CHECK(at == batch.size());
    return out;
}

bool contains(const std::vector<uint8_t>& haystack, const std::vector<uint8_t>& needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
           haystack.end();
}

}  // namespace

TEST_CASE("pod port elements: keys and values padded to 4-byte registers, as nft sends them") {
    PodPorts pod;
    pod.sandbox_id = "abc";
    pod.pod_ipv4 = *parse_ip("10.77.0.2");
    auto tcp = parse_port_mapping("8080:80");
    auto bound = parse_port_mapping("127.0.0.1:53:5353/udp");
    REQUIRE(tcp);
    REQUIRE(bound);
    pod.mappings = {(*tcp)[0], (*bound)[0]};
    auto elements = pod_port_elements(pod);
    REQUIRE(elements.size() == 2);
    CHECK(elements[0].set == "ports4");
    CHECK(elements[0].key == std::vector<uint8_t>{6, 0, 0, 0, 0x1f, 0x90, 0, 0});  // tcp . 8080
    CHECK(elements[0].data == std::vector<uint8_t>{10, 77, 0, 2, 0, 80, 0, 0});
    CHECK(elements[0].comment == "podnet:abc");
    CHECK(elements[1].set == "bound_ports4");
    CHECK(elements[1].key == std::vector<uint8_t>{17, 0, 0, 0, 127, 0, 0, 1, 0, 53, 0, 0});
    CHECK(elements[1].data == std::vector<uint8_t>{10, 77, 0, 2, 0x14, 0xe9, 0, 0});  // . 5353
}

TEST_CASE("element batch: begin, one add (and for remove one delete) per element, end") {
    NftSetElement e{"ports4", {6, 0, 0, 0, 0x1f, 0x90, 0, 0}, {10, 77, 0, 2, 0, 80, 0, 0}, "c"};
    std::vector<NftSetElement> two = {e, e};
    two[1].key[5] = 0x91;

    auto added =
        split_batch(encode_nft_element_batch(NFPROTO_INET, "podnet", two, NftElementOp::add, 100));
    REQUIRE(added.size() == 4);
    CHECK(added[0].type == NFNL_MSG_BATCH_BEGIN);
    CHECK(added[3].type == NFNL_MSG_BATCH_END);
    for (size_t i = 1; i <= 2; ++i) {
        CHECK(added[i].type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM));
        CHECK(added[i].flags == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE));
        CHECK(added[i].seq == 100 + i);
        CHECK(contains(added[i].payload, {'p', 'o', 'd', 'n', 'e', 't', 0}));
        CHECK(contains(added[i].payload, {'p', 'o', 'r', 't', 's', '4', 0}));
        CHECK(contains(added[i].payload, two[i - 1].key));
        CHECK(contains(added[i].payload, e.data));
        CHECK(contains(added[i].payload, {0, 2, 'c', 0}));  // comment user data: type 0, length 2
    }

    auto removed =
        split_batch(encode_nft_element_batch(NFPROTO_INET, "podnet", two, NftElementOp::remove, 1));
    REQUIRE(removed.size() == 6);
    CHECK(removed[1].type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM));
    CHECK(removed[2].type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELSETELEM));
    CHECK(removed[2].flags == (NLM_F_REQUEST | NLM_F_ACK));
    CHECK(contains(removed[2].payload, e.key));
    CHECK_FALSE(contains(removed[2].payload, e.data));  // a delete names the key only
    CHECK(removed[4].type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELSETELEM));
    CHECK(removed[5].seq == 6);
}
