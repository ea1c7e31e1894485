// CommitGate - what stands between a reply and its client: a reply that
// confirms a change goes out only once the change is durable (the state
// journal's group commit), so a kill -9 right after it loses nothing.
#pragma once

#include <functional>

namespace vnet::qmp {

class CommitGate {
 public:
  virtual ~CommitGate() = default;
  // Changes made by requests already answered are not yet durable.
  virtual bool uncommitted() const = 0;
  // Runs fn once they are, and once the work that waits for durability is
  // done too (at the latest at the end of this turn of the loop).
  virtual void when_committed(std::function<void()> fn) = 0;
};

}  // namespace vnet::qmp
