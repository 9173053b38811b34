#pragma once
// How `podnet policy eval | probe` show verdicts: JSON in probe order, or truth tables.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/scenario.hpp"

namespace podnet::cli {

// One probe's row: the evaluator's verdict and, for `probe`, what the kernel did.
struct ProbeRow {
    const policy::ProbeVerdict* evaluated = nullptr;
    std::optional<bool> observed;  // probe: the real connection's outcome
    std::string skipped;           // probe: why it was not run ("no SCTP in this kernel")
    std::string detail;            // probe: the connection's error, when it failed
};

[[nodiscard]] nlohmann::ordered_json probes_json(const std::vector<ProbeRow>& rows);
// Truth tables, one per port/protocol: rows are sources, columns destinations. A cell is
// "." allowed, "X" denied; with observed values "." / "X" are what the kernel did and a
// disagreement with the evaluator shows as "!". A wrong `allowed` expectation adds "*".
[[nodiscard]] std::string truth_tables(const std::vector<ProbeRow>& rows);

}  // namespace podnet::cli
