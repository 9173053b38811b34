#pragma once
// NetworkPolicy compiled to nftables: podnet's own table `inet podnet_policy`, whose chains never
// change; what the policies say lives in set elements keyed by pod address. A new connection
// costs a fixed number of set lookups whatever the number of pods, policies or rules:
//
//   forward: ct state established,related accept
//            source in egr_iso       -> egress:  allowed if one of the egress sets holds it
//            destination in ing_iso  -> ingress: allowed if one of the ingress sets holds it
//
// Sets per direction and family (key = pod address . peer address [. protocol . port]):
//   iso        pods isolated in that direction (and not opened wide by some rule)
//   peer       pod . peer                       rule: pod peer, all traffic     (hash)
//   port       pod . proto . port               rule: any peer, one port        (hash)
//   peer_port  pod . peer . proto . port        rule: pod peer, one port        (hash)
//   cidr       pod . peer range                 rule: ipBlock, all traffic      (interval)
//   range      pod . peer range . proto . ports rule: ipBlock or port ranges    (interval)
// Interval sets refuse overlapping elements, so their elements are normalised to disjoint boxes
// with the same union. Named ports are resolved here, on the destination pod.
//
// Pure functions: the caller runs the scripts through NftContext, one transaction each.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "policy/model.hpp"

namespace podnet::policy {

// Set name -> its elements in nft syntax. Equal clusters compile to equal Elements.
struct Elements {
    std::map<std::string, std::set<std::string>> sets;

    [[nodiscard]] size_t size() const;
    bool operator==(const Elements&) const = default;
};

// `cluster.pods` are the pods whose traffic this node enforces (its sandboxes); peers are looked
// up among the same pods.
[[nodiscard]] Elements compile(const Cluster& cluster);
// The elements keyed by one pod's addresses (its own isolation and allows), added to `out`.
// compile() is the union of these over the pods; every element begins with its pod's address,
// so pods' elements never collide.
void compile_pod(const Cluster& cluster, const Pod& pod, Elements& out);

// The table, its sets and chains. Idempotent: sets are only added (their elements survive), the
// chains are flushed and refilled in the same transaction.
[[nodiscard]] std::string policy_base_script();
// Every set flushed and refilled with `desired`: for a first install or after a crash.
[[nodiscard]] std::string full_sync_script(const Elements& desired);
// Only the difference: deletes first (interval sets check overlaps against what stays), then
// adds. Empty when nothing changed.
[[nodiscard]] std::string update_script(const Elements& applied, const Elements& desired);
// Removes the table (nothing enforced any more).
[[nodiscard]] std::string remove_table_script();

[[nodiscard]] std::string elements_to_json(const Elements& elements);
[[nodiscard]] Result<Elements> elements_from_json(const std::string& text);

}  // namespace podnet::policy
