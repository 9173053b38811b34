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
// Truth tables, one per port/protocol, each titled with its port and the meaning of its axes:
// rows are sources (from), columns destinations (to). A cell is "." allowed, "X" denied; with
// observed values "." / "X" are what the kernel did and a disagreement with the evaluator shows
// as "!"; "s" a probe not run. A wrong `allowed` expectation adds "*". A legend of the symbols
// used follows the tables. `color`: ANSI colours on the symbols (see use_color in output.hpp).
[[nodiscard]] std::string truth_tables(const std::vector<ProbeRow>& rows, bool color = false);

}  // namespace podnet::cli
