#include "backends/l2tpv3/l2tpv3_backend.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace vnet::l2tpv3 {

namespace {

constexpr int kL2tpProtocol = 115;  // IPPROTO_L2TP

}  // namespace

Result<Layout> plan_layout(const qapi::NetdevL2TPv3Options& options) {
  Layout layout;
  layout.ipv6 = options.ipv6.value_or(false);
  if (options.offset && *options.offset > 256) return Error{EINVAL, "offset must be less than 256 bytes"};
  if (options.rxcookie || options.txcookie) {
    if (!(options.rxcookie && options.txcookie)) {
      return Error{EINVAL, "require both 'rxcookie' and 'txcookie' or neither"};
    }
    layout.cookie = true;
  }
  // QEMU 7.2 takes 64-bit cookies whenever cookie64 is given, even as off;
  // here off means off (docs/qmp-oracle.md).
  layout.cookie64 = options.cookie64.value_or(false);
  layout.udp = options.udp.value_or(false);
  if (layout.udp && !(options.srcport && options.dstport)) return Error{EINVAL, "need both src and dst port for udp"};
  if (layout.cookie && !layout.cookie64) {
    // A 32-bit cookie over 32 bits: QEMU sends its low half and never
    // matches a received one. Refused rather than silently dropping all.
    for (auto [name, value] : {std::pair{"txcookie", *options.txcookie}, std::pair{"rxcookie", *options.rxcookie}}) {
      if (value > 0xffffffffull) {
        return Error{EINVAL, std::string(name) + " does not fit in 32 bits: use cookie64=on for 64-bit cookies"};
      }
    }
  }
  layout.tx_session = options.txsession;
  layout.rx_session = options.rxsession.value_or(options.txsession);
  if (layout.cookie) {
    layout.tx_cookie = *options.txcookie;
    layout.rx_cookie = *options.rxcookie;
  }
  // A pinned counter without counter=on puts no counter word on QEMU's
  // wire (it writes the 0 past its header instead): the same here.
  layout.counter = options.counter.value_or(false);
  layout.pin_counter = options.pincounter.value_or(false);
  layout.offset = options.offset.value_or(0);
  return layout;
}

Result<std::unique_ptr<L2tpv3Backend>> L2tpv3Backend::create(const qapi::NetdevL2TPv3Options& options,
                                                             datapath::FrameLoop& loop, std::string why_not_kernel) {
  auto layout = plan_layout(options);
  if (!layout) return layout.take_error();
  std::unique_ptr<L2tpv3Backend> backend(new L2tpv3Backend(loop, *layout, options));
  backend->why_not_kernel_ = std::move(why_not_kernel);
  if (auto opened = backend->open_socket(); !opened) return opened.take_error();
  return backend;
}

// As net_init_l2tpv3(): bind to src[:srcport], send to dst[:dstport].
Result<void> L2tpv3Backend::open_socket() {
  auto source = resolve_endpoint(layout_, options_, End::src);
  if (!source) return source.take_error();
  fd_ = UniqueFd(::socket(source->address.ss_family,
                          (layout_.udp ? SOCK_DGRAM : SOCK_RAW) | SOCK_CLOEXEC | SOCK_NONBLOCK,
                          layout_.udp ? 0 : kL2tpProtocol));
  if (!fd_) return Error{errno, "socket creation failed, errno = " + std::to_string(errno)};
  if (bind(fd_.get(), reinterpret_cast<const sockaddr*>(&source->address), source->length) < 0) {
    return Error{errno, "could not bind socket err=" + std::to_string(errno)};
  }
  auto destination = resolve_endpoint(layout_, options_, End::dst);
  if (!destination) return destination.take_error();
  std::memcpy(&destination_, &destination->address, std::min<size_t>(destination->length, sizeof destination_));
  destination_length_ = destination->length;
  sender_ = std::make_unique<datapath::DatagramSender>(loop_, fd_.get());
  auto receiver = loop_.add_receiver(fd_.get(), [this](std::span<const uint8_t> datagram) { received(datagram); });
  if (!receiver) return receiver.take_error();
  receiver_ = *receiver;
  return {};
}

L2tpv3Backend::~L2tpv3Backend() {
  if (receiver_) loop_.remove_receiver(*receiver_);
}

void L2tpv3Backend::received(std::span<const uint8_t> datagram) {
  auto [verdict, frame] = parse_datagram(layout_, datagram);
  switch (verdict) {
    case Verdict::too_short: drops_short_++; return;
    case Verdict::bad_session: drops_session_++; return;
    case Verdict::bad_cookie: drops_cookie_++; return;
    case Verdict::ok: break;
  }
  deliver(frame);
}

Result<void> L2tpv3Backend::send_from_guest(std::span<const uint8_t> frame) {
  uint8_t header[Layout::kMaxHeader];
  size_t size = build_header(layout_, ++sequence_, header);
  sender_->send({header, size}, frame, &destination_, destination_length_);
  return {};
}

std::vector<Detail> layout_details(const Layout& layout, const qapi::NetdevL2TPv3Options& options) {
  std::vector<Detail> out{
      {"encapsulation", std::string(layout.udp ? "udp" : "ip")},
      {"ipv6", layout.ipv6},
      {"src", options.src},
      {"dst", options.dst},
      {"txsession", int64_t{layout.tx_session}},
      {"rxsession", int64_t{layout.rx_session}},
      {"cookie-bits", int64_t{layout.cookie ? (layout.cookie64 ? 64 : 32) : 0}},
      {"counter", layout.counter},
      {"pincounter", layout.pin_counter},
      {"offset", int64_t{layout.offset}},
      {"header-size", static_cast<int64_t>(layout.header_size())},
  };
  if (layout.udp) {
    out.push_back({"srcport", options.srcport.value_or("")});
    out.push_back({"dstport", options.dstport.value_or("")});
  }
  return out;
}

std::vector<Detail> L2tpv3Backend::details() const {
  std::vector<Detail> out{{"path", std::string("userspace")}, {"userspace-reason", why_not_kernel_}};
  for (auto& detail : layout_details(layout_, options_)) out.push_back(std::move(detail));
  out.push_back({"drops-short", static_cast<int64_t>(drops_short_)});
  out.push_back({"drops-session", static_cast<int64_t>(drops_session_)});
  out.push_back({"drops-cookie", static_cast<int64_t>(drops_cookie_)});
  append_inbound_details(out);
  for (auto& detail : sender_->details()) out.push_back(std::move(detail));
  return out;
}

}  // namespace vnet::l2tpv3
