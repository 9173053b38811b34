#pragma once
// Set and map elements written straight to nf_tables as one netlink batch, without libnftables.
//
// Why: a pod's host ports are a few map elements, yet going through libnftables costs a `podnet
// sandbox create` more than everything else it does: loading the library and its five
// dependencies (a fresh process each command), parsing the text and fetching the ruleset cache
// first — about 2.5 ms of CPU and 320 page faults here. Elements are plain bytes: this writes
// them as the kernel receives them (what `nft add element` ends up sending), in one transaction.
// Tables, chains, sets and everything else still go through NftContext (nft/nft.hpp).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace podnet {

// One element of a set or map, in the kernel's layout: a concatenated key or value is its
// fields in order, each padded to a 4-byte register (an inet_proto byte takes 4, an
// inet_service's 2 network-order bytes take 4, an ipv4_addr 4, an ipv6_addr 16).
struct NftSetElement {
    std::string set;            // "ports4"
    std::vector<uint8_t> key;   // concatenated key
    std::vector<uint8_t> data;  // map value; empty for a set
    std::string comment;        // nft's element comment ("" for none)
};

// Appends one field of a concatenation, padded with zeros to a multiple of 4 bytes.
void append_nft_field(std::vector<uint8_t>& out, std::span<const uint8_t> field);
void append_nft_u8(std::vector<uint8_t>& out, uint8_t value);          // inet_proto
void append_nft_port(std::vector<uint8_t>& out, uint16_t host_order);  // inet_service

enum class NftElementOp {
    add,     // NEWSETELEM with NLM_F_CREATE: an identical element already there is no error
    remove,  // add then delete each: removing what is already gone is no error (as nft -f does
             // with "add element ...; delete element ...")
};

// The whole batch (BATCH_BEGIN, one message per element and step, BATCH_END) for `family`
// (NFPROTO_INET, ...) and `table`, messages numbered from `first_seq`, each asking for an ack.
// Exposed for unit tests.
[[nodiscard]] std::vector<uint8_t> encode_nft_element_batch(uint8_t family, std::string_view table,
                                                            std::span<const NftSetElement> elements,
                                                            NftElementOp op, uint32_t first_seq);

// Whether this process has sent nftables a transaction that deletes (elements, rules, sets,
// tables). After one, the last close of a netfilter netlink socket waits for the kernel to free
// what was deleted (an RCU grace period, 10-15 ms here); see cli/podnet_main.cpp.
void note_nft_deletion();
[[nodiscard]] bool nft_deleted_anything();

// A NETLINK_NETFILTER socket in the caller's network namespace.
class NftElementWriter {
  public:
    [[nodiscard]] static Result<NftElementWriter> open();
    // One per process, opened on first use and kept: after a transaction that deleted, closing
    // the socket waits for the kernel's RCU grace period (see NftContext::shared), so a
    // long-running embedder never pays it and a command pays it once, at exit.
    [[nodiscard]] static Result<NftElementWriter*> shared();

    // One transaction; nothing changes unless all of it applies. Error names the set and the
    // kernel's reason ("ports4: No such file or directory" when the table or map is missing).
    [[nodiscard]] Result<void> apply(uint8_t family, std::string_view table,
                                     std::span<const NftSetElement> elements, NftElementOp op);

  private:
    explicit NftElementWriter(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
    uint32_t seq_ = 1;
};

}  // namespace podnet
