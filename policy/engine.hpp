#pragma once
// Incremental compilation: the cluster, each pod's elements and each policy's selected pods are
// kept, so a change recompiles only the pods it can affect — the pod itself and the pods whose
// policies name it as a peer for a pod change; the pods a policy selects (before and after) for
// a policy change. The result is always equal to compile(cluster()) (tested), and the nft
// update is the difference for those pods only: proportional to the change, not the cluster.

#include <map>
#include <set>
#include <string>

#include "policy/compile.hpp"
#include "policy/model.hpp"

namespace podnet::policy {

class PolicyEngine {
  public:
    // Everything replaced: a full compile.
    void reset(Cluster cluster);

    // A pod added, or changed (labels, addresses, named ports), by Pod::key().
    void upsert_pod(const Pod& pod);
    void remove_pod(const std::string& key);
    // A policy added or changed, by NetworkPolicy::key().
    void upsert_policy(const NetworkPolicy& policy);
    void remove_policy(const std::string& key);
    // Namespace labels feed every namespaceSelector: recompiles the pods of policies that have one.
    void set_namespace_labels(const std::string& ns, const Labels& labels);

    [[nodiscard]] const Cluster& cluster() const { return cluster_; }
    // The union of every pod's elements (what the kernel should hold).
    [[nodiscard]] Elements elements() const;
    // nft lines turning what the kernel held at the previous call (or reset) into what it should
    // hold now; empty when nothing changed. Deletes first.
    [[nodiscard]] std::string take_update_script();

  private:
    void recompile(const std::set<std::string>& pods);
    [[nodiscard]] std::set<std::string> peers_of(const Pod& pod) const;
    [[nodiscard]] std::set<std::string> selected_by(const NetworkPolicy& policy) const;
    void remember(const std::string& pod);  // its elements as the kernel holds them

    Cluster cluster_;
    std::map<std::string, Elements> by_pod_;                 // pod key -> its elements
    std::map<std::string, std::set<std::string>> selected_;  // policy key -> pod keys
    std::map<std::string, Elements> applied_;  // pods changed since the last script: old elements
};

}  // namespace podnet::policy
