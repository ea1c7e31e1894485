// TapBackend - a tap netdev: its queue fds, optional vhost-net fds, and the
// kernel device behind them (created by us, or attached to).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "backends/backend.h"
#include "backends/tap/bridge/bridge_acl.h"
#include "backends/datapath/frame_loop.h"
#include "backends/tap/tap_plan.h"
#include "backends/tap/tap_port.h"
#include "backends/tap/teardown_queue.h"
#include "kernel_ifaces/netns.h"
#include "kernel_ifaces/rtnl.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::tap {

// What the daemon's watch of a tap's namespace (netns=) is to the tap: held
// while the tap lives, it ends with it.
class NamespaceWatch {
 public:
  virtual ~NamespaceWatch() = default;
};

// What a tap needs of the daemon while it is created and while it lives.
struct TapEnv {
  TeardownQueue& teardown;
  rtnl::Rtnl& rtnl;
  const bridge::BridgeAcl& bridge_acl;
  // Takes a client's named fd (getfd); nullopt when there is none.
  std::function<std::optional<UniqueFd>(const std::string&)> take_named_fd;
  std::chrono::milliseconds script_timeout{30000};
  // The userspace datapath, for a tap whose peer is not a guest NIC.
  datapath::FrameLoop* frames = nullptr;
};

class TapBackend : public Backend {
 public:
  static Result<std::unique_ptr<TapBackend>> create(const TapPlan& plan, TapEnv& env);

  // What a restarted daemon knows of a tap it had (its state file).
  struct Record {
    std::string ifname;
    int ifindex = 0;
    bool created = false;
    std::string bridge;
    // netns=: the namespace's nsfs inode when the tap was made (0: not
    // recorded); a path that names another namespace now is not followed.
    uint64_t netns_inode = 0;
  };
  // Re-adopts the tap of a record: it must still be there, the same device.
  // If no process holds a queue of it, its queues are opened again, as at
  // creation; if a VMM holds them, it is managed without fds (rtnetlink for
  // link and carrier; the rx filter stays on the device).
  static Result<std::unique_ptr<TapBackend>> restore(const TapPlan& plan, const Record& record, TapEnv& env);
  ~TapBackend() override;

  Result<void> set_link(bool up) override;
  std::vector<Detail> details() const override;
  std::vector<BackendFd> fds() const override;
  std::optional<int> filter_attach_fd() const override {
    return queues_.empty() ? std::nullopt : std::optional<int>(queues_.front().get());
  }
  void keep_on_exit() override { keep_ = true; }
  void record_committed() override;
  // TUNSETOFFLOAD (TUN_F_*) on every queue vnetd holds; needs vnet headers.
  Result<void> set_offloads(unsigned flags);
  // 0 for a tap in another namespace: its ifindex means nothing in vnetd's,
  // where tc and XDP attachments look it up.
  int guest_tx_ifindex() const override { return netns_ ? 0 : ifindex_; }
  std::optional<ForeignDevice> guest_tx_foreign_device() const override {
    if (!netns_) return std::nullopt;
    return ForeignDevice{ifindex_, netns_->fd()};
  }
  // A write into queue 0, behind a zero virtio-net header when the queues
  // have one: the kernel receives it on the tap, as it does a guest's frame.
  Result<void> send_from_guest(std::span<const uint8_t> frame) override;
  // Peered with anything but a guest NIC, vnetd carries the tap's frames
  // (TapPort); with a NIC, the VMM does.
  Result<void> peer_connected(Backend& peer) override;
  void peer_disconnected(Backend& peer) override;

  const std::string& ifname() const { return ifname_; }
  // The up-script the daemon is to run (TapPlan::defer_script); "" if none.
  const std::string& deferred_script() const { return deferred_script_; }
  // The add of this tap failed after it was made (its deferred up-script):
  // destroyed, it is deleted at once, without its downscript, as a tap
  // whose create() failed.
  void undo_create() { complete_ = false; }
  bool created() const { return created_; }  // vnetd made the device (and deletes it)
  int ifindex() const { return ifindex_; }
  int queue_fd(size_t queue) const { return queues_.at(queue).get(); }
  // The namespace of a tap made with netns= (null: vnetd's own).
  const std::shared_ptr<netns::Netns>& netns() const { return netns_; }
  void hold_namespace_watch(std::unique_ptr<NamespaceWatch> watch) { namespace_watch_ = std::move(watch); }

 private:
  TapBackend(TeardownQueue& teardown, rtnl::Rtnl& rtnl, datapath::FrameLoop* frames)
      : teardown_(teardown), rtnl_(&rtnl), frames_(frames) {}
  // netns=: the namespace opened, and rtnetlink in it from here on.
  Result<void> open_netns(const std::string& path);
  // What teardown jobs and waits know this tap's name by: the ifname, and
  // for another namespace's tap the namespace too (eth0 is in many).
  std::string teardown_key(const std::string& ifname) const;
  Result<void> set_mtu_and_mac(const TapPlan& plan);
  // /dev/net/tun opened in the tap's namespace: tun makes the device in the
  // namespace its file was opened in.
  Result<UniqueFd> open_tun() const;
  Result<void> open_queues(const TapPlan& plan, TapEnv& env);
  Result<void> adopt_named_fds(const TapPlan& plan, TapEnv& env);
  Result<void> run_helper(const TapPlan& plan, TapEnv& env);
  Result<void> adopt_fd(UniqueFd fd);
  Result<void> configure_queues(const TapPlan& plan);
  Result<void> apply_owner(const TapPlan& plan);
  Result<void> open_vhost(const TapPlan& plan, TapEnv& env);

  TeardownQueue& teardown_;
  rtnl::Rtnl* rtnl_;  // vnetd's, or the one in netns_
  std::shared_ptr<netns::Netns> netns_;
  std::unique_ptr<NamespaceWatch> namespace_watch_;
  datapath::FrameLoop* frames_;
  std::unique_ptr<TapPort> port_;  // while vnetd carries the frames
  std::string ifname_;
  int ifindex_ = 0;
  bool created_ = false;  // we made the device, so removing it is ours to do
  bool complete_ = false; // a half-made tap is removed at once, not later
  bool keep_ = false;     // leave the device for a restarted daemon
  bool persistent_ = false;  // TUNSETPERSIST done (once its record was durable)
  bool hold_queues_ = true;  // false: the queues are closed once persistent (TapPlan::hold_queues)
  uint32_t planned_queues_ = 0;
  bool multi_queue_ = false;
  bool vnet_hdr_ = false;
  bool has_ufo_ = false;
  int sndbuf_ = 0;
  std::string bridge_;
  std::string mac_;   // the device's, when made or re-adopted
  unsigned mtu_ = 0;
  std::string downscript_;
  std::string deferred_script_;
  std::chrono::milliseconds script_timeout_{30000};
  std::optional<uint32_t> poll_us_;
  std::optional<uint32_t> owner_;  // TUNSETOWNER / TUNSETGROUP given
  std::optional<uint32_t> group_;
  uint64_t vhost_features_ = 0;
  std::vector<UniqueFd> queues_;
  std::vector<UniqueFd> vhost_fds_;
};

}  // namespace vnet::tap
