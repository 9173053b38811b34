#pragma once
// Setup pushes the undo of each step; commit() keeps the work, otherwise the destructor undoes
// it in reverse order. Undo actions must not throw and should treat "already gone" as success.

#include <functional>
#include <utility>
#include <vector>

namespace podnet {

class Rollback {
  public:
    Rollback() = default;
    Rollback(const Rollback&) = delete;
    Rollback& operator=(const Rollback&) = delete;
    ~Rollback() { run(); }

    void push(std::function<void()> undo) { undo_.push_back(std::move(undo)); }
    void commit() { undo_.clear(); }

    // Undo now (reverse order). Safe to call more than once.
    void run() {
        while (!undo_.empty()) {
            auto undo = std::move(undo_.back());
            undo_.pop_back();
            undo();
        }
    }

  private:
    std::vector<std::function<void()>> undo_;
};

}  // namespace podnet
