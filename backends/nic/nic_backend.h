// NicBackend - the guest NIC as vnetd holds it: its MAC and model, and its
// receive filter, loaded as a BPF program and attached to the tap of the
// netdev it is peered with, so the kernel drops what the guest would drop
// whoever reads the tap (a VMM or vhost-net).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "backends/backend.h"
#include "backends/datapath/frame_loop.h"
#include "backends/nic/announce_frames.h"
#include "backends/nic/host_side_port.h"
#include "ebpf/anti_spoof_program.h"
#include "ebpf/host_sink.h"
#include "ebpf/rx_filter_program.h"
#include "ebpf/tc_ingress.h"
#include "ebpf/xdp_link.h"
#include "kernel_ifaces/netns.h"

namespace vnet::nic {

struct NicIdentity {
  ebpf::Mac mac{};
  std::string model;
  std::string addr;
  std::optional<uint32_t> vectors;
};

// set-anti-spoof's setting, kept as given (the texts) and parsed.
struct AntiSpoofSetting {
  bool enabled = false;
  bool drop_other = false;  // other-ethertypes: "drop"
  std::vector<std::string> allowed_texts;
  std::vector<ebpf::IpPrefix> allowed;
};

// Where our anti-spoof filter sits on the tap's tc ingress: a fixed place,
// so that a restarted daemon replaces its own filter and nobody else's.
inline constexpr uint32_t kAntiSpoofTcHandle = 0x5653;    // "VS"
inline constexpr uint32_t kAntiSpoofTcPriority = 0x5653;
inline constexpr const char* kAntiSpoofLinkPin = "tcx_link";
// A NIC's own tap on a hub: its generic XDP link's pin, beside the maps.
inline constexpr const char* kAntiSpoofXdpLinkPin = "xdp_link";
// Its host sink's tcx link, beside the rx filter's maps.
inline constexpr const char* kHostSinkLinkPin = "host_sink_link";

class NicBackend : public Backend {
 public:
  // pin_dir: where its maps are pinned ("" for nowhere); pinned maps already
  // there are re-adopted, filter and counters included (restarted()).
  // anti_spoof_pin_dir: where its anti-spoof maps go when it is enabled.
  static Result<std::unique_ptr<NicBackend>> create(NicIdentity identity, const std::string& pin_dir = "",
                                                    const std::string& anti_spoof_pin_dir = "");
  bool restarted() const { return program_->adopted(); }
  // A NIC on a hub gets a tap of its own for its VMM (netdev-get-fds on the
  // NIC gives its fds): its filter goes on it at once, and while the NIC has
  // a peer (a hub port) the tap's host side is joined to it on `frames`.
  Result<void> give_guest_tap(std::unique_ptr<Backend> tap, datapath::FrameLoop& frames);
  Backend* guest_tap() const { return guest_tap_.get(); }
  // After a restart the filter may still be on a tap we cannot reach (its
  // queues are all held by a VMM): the kernel still runs it.
  void set_filter_still_attached() { filter_kept_ = true; }
  void keep_on_exit() override;
  void record_committed() override;
  ~NicBackend() override;

  const NicIdentity& identity() const { return identity_; }
  Result<ebpf::RxFilterState> rx_filter() const { return program_->read(); }
  // Applies the guest's filter; a kernel hub is told which unicast frames
  // to offer this guest.
  Result<void> set_rx_filter(const ebpf::RxFilterState& state);
  bool filter_enforced() const { return attached_fd_ >= 0 || filter_kept_; }

  // Anti-spoofing of what the guest sends: enabling loads the program (or
  // re-adopts its pinned maps), writes the setting and attaches it to the
  // tc ingress of the peer tap; disabling takes it off and unpins it.
  // Needs a tap peer to enable. On failure nothing has changed.
  Result<void> set_anti_spoof(AntiSpoofSetting setting);
  const AntiSpoofSetting& anti_spoof() const { return anti_spoof_; }
  // netdev_add's anti-spoof=on: applied by peer_connected(), whose failure
  // undoes the add.
  void set_anti_spoof_on_peering(AntiSpoofSetting setting) { anti_spoof_on_peering_ = std::move(setting); }
  // The ifindex of the peer tap the guest sends into, 0 when there is none.
  int tap_ifindex() const { return peer_ifindex_; }

  // NIC_RX_FILTER_CHANGED is sent once, then not again until the filter is
  // queried (QEMU's rxfilter_notify_enabled).
  bool take_notify() { return std::exchange(notify_enabled_, false); }
  void enable_notify() { notify_enabled_ = true; }

  // announce-self bookkeeping, shown in query-netdevs: frames sent, and how
  // the last one went ("xdp-live-frame" or "tap-write"). Returns true when
  // the path differs from the last one (worth a log line).
  bool record_announce(const std::string& path) {
    announce_frames_++;
    return std::exchange(announce_path_, path) != path;
  }

  // Beyond QEMU's RARP: addresses to send a GARP / unsolicited NA for.
  const std::vector<IpAddress>& announce_addresses() const { return announce_addresses_; }
  void set_announce_addresses(std::vector<IpAddress> addresses, std::vector<std::string> texts) {
    announce_addresses_ = std::move(addresses);
    announce_address_texts_ = std::move(texts);
  }

  // Failover (set-nic-features): the primary this NIC stands by for, and
  // whether the guest negotiated VIRTIO_NET_F_STANDBY.
  const std::string& failover_pair() const { return failover_pair_; }
  void set_failover_pair(std::string primary) { failover_pair_ = std::move(primary); }
  void set_standby(bool negotiated) { standby_ = negotiated; }

  Result<void> peer_connected(Backend& peer) override;
  bool is_guest_nic() const override { return true; }
  // With a guest tap: the tap's fds, its carrier, and frames from the hub
  // sent out of it to the guest.
  std::vector<BackendFd> fds() const override;
  Result<void> set_link(bool up) override;
  Result<void> send_from_guest(std::span<const uint8_t> frame) override;
  void peer_disconnected(Backend& peer) override;
  std::vector<Detail> details() const override;

 private:
  NicBackend(NicIdentity identity, std::unique_ptr<ebpf::RxFilterProgram> program)
      : identity_(std::move(identity)), program_(std::move(program)) {}

  void drop_anti_spoof();
  // Its own tap's, for the hub, with the one unicast address its guest takes.
  Backend::KernelPath kernel_path(std::optional<ebpf::Mac> only_unicast_to) const;
  ebpf::TcIngressPlace anti_spoof_place() const;
  std::string anti_spoof_xdp_pin() const;
  Result<void> attach_anti_spoof(ebpf::AntiSpoofProgram& program);
  Result<void> attach_filter(Backend& device);
  void detach_filter();

  NicIdentity identity_;
  std::unique_ptr<ebpf::RxFilterProgram> program_;
  std::string pin_dir_;
  std::string anti_spoof_pin_dir_;
  AntiSpoofSetting anti_spoof_;
  std::optional<AntiSpoofSetting> anti_spoof_on_peering_;
  std::unique_ptr<ebpf::AntiSpoofProgram> anti_spoof_program_;  // while enabled
  ebpf::TcIngressFilter anti_spoof_filter_;                     // on peer_ifindex_, while enabled
  ebpf::XdpLink anti_spoof_xdp_;                                // instead, on a tap of its own
  int peer_ifindex_ = 0;
  int peer_netns_fd_ = -1;  // the peer tap's namespace when not vnetd's (borrowed while peered)
  // The calling thread in the peer tap's namespace for BPF attachments by
  // ifindex (nothing to enter for vnetd's own).
  Result<std::optional<netns::ScopedNetns>> in_peer_namespace() const;
  int attached_fd_ = -1;  // the peer's tap fd (owned by the peer) carrying our filter
  bool notify_enabled_ = true;
  uint64_t announce_frames_ = 0;
  std::string announce_path_;
  std::vector<IpAddress> announce_addresses_;
  std::vector<std::string> announce_address_texts_;  // as given, for query-netdevs
  std::string failover_pair_;
  bool standby_ = false;
  bool filter_kept_ = false;
  bool keep_ = false;
  // Declared in this order so that the host side closes before its tap.
  std::unique_ptr<Backend> guest_tap_;
  ebpf::HostSink host_sink_;  // on the guest tap: its frames reach the hub, not the host
  datapath::FrameLoop* frames_ = nullptr;
  std::unique_ptr<HostSidePort> host_side_;  // while peered with a hub port
  Backend* hub_peer_ = nullptr;              // that hub port
};

// "52:54:00:12:34:56" -> bytes; nullopt if it is not six ':'-separated hex pairs.
std::optional<ebpf::Mac> parse_mac(const std::string& text);
std::string format_mac(const ebpf::Mac& mac);

}  // namespace vnet::nic
