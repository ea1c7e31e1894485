#include "backends/l2tpv3/l2tpv3_backend.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace vnet::l2tpv3 {

namespace {

constexpr int kL2tpProtocol = 115;  // IPPROTO_L2TP

struct AddrInfoDeleter {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};
using AddrInfo = std::unique_ptr<addrinfo, AddrInfoDeleter>;

// getaddrinfo() as QEMU asks it: family by ipv6=, datagram or raw L2TP.
int resolve(const Layout& layout, const std::string& host, const std::optional<std::string>& port, AddrInfo& out) {
  addrinfo hints{};
  hints.ai_family = layout.ipv6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = layout.udp ? SOCK_DGRAM : SOCK_RAW;
  hints.ai_protocol = layout.udp ? 0 : kL2tpProtocol;
  addrinfo* found = nullptr;
  int result = getaddrinfo(host.c_str(), layout.udp && port ? port->c_str() : nullptr, &hints, &found);
  out.reset(found);
  if (result == 0 && !found) result = EAI_NONAME;
  return result;
}

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
                                                             datapath::FrameLoop& loop) {
  auto layout = plan_layout(options);
  if (!layout) return layout.take_error();
  std::unique_ptr<L2tpv3Backend> backend(new L2tpv3Backend(loop, *layout, options));
  if (auto opened = backend->open_socket(); !opened) return opened.take_error();
  return backend;
}

// As net_init_l2tpv3(): bind to src[:srcport], send to dst[:dstport].
Result<void> L2tpv3Backend::open_socket() {
  AddrInfo source, destination;
  if (int result = resolve(layout_, options_.src, options_.srcport, source); result != 0) {
    return Error{EINVAL, std::string("could not resolve src, errno = ") + gai_strerror(result)};
  }
  fd_ = UniqueFd(::socket(source->ai_family, source->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, source->ai_protocol));
  if (!fd_) return Error{errno, "socket creation failed, errno = " + std::to_string(errno)};
  if (bind(fd_.get(), source->ai_addr, source->ai_addrlen) < 0) {
    return Error{errno, "could not bind socket err=" + std::to_string(errno)};
  }
  if (int result = resolve(layout_, options_.dst, options_.dstport, destination); result != 0) {
    return Error{EINVAL, std::string("could not resolve dst, error = ") + gai_strerror(result)};
  }
  std::memcpy(&destination_, destination->ai_addr, std::min<size_t>(destination->ai_addrlen, sizeof destination_));
  destination_length_ = destination->ai_addrlen;
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

std::vector<Detail> L2tpv3Backend::details() const {
  std::vector<Detail> out{
      {"encapsulation", std::string(layout_.udp ? "udp" : "ip")},
      {"ipv6", layout_.ipv6},
      {"src", options_.src},
      {"dst", options_.dst},
      {"txsession", int64_t{layout_.tx_session}},
      {"rxsession", int64_t{layout_.rx_session}},
      {"cookie-bits", int64_t{layout_.cookie ? (layout_.cookie64 ? 64 : 32) : 0}},
      {"counter", layout_.counter},
      {"pincounter", layout_.pin_counter},
      {"offset", int64_t{layout_.offset}},
      {"header-size", static_cast<int64_t>(layout_.header_size())},
      {"drops-short", static_cast<int64_t>(drops_short_)},
      {"drops-session", static_cast<int64_t>(drops_session_)},
      {"drops-cookie", static_cast<int64_t>(drops_cookie_)},
  };
  append_inbound_details(out);
  if (layout_.udp) {
    out.push_back({"srcport", options_.srcport.value_or("")});
    out.push_back({"dstport", options_.dstport.value_or("")});
  }
  for (auto& detail : sender_->details()) out.push_back(std::move(detail));
  return out;
}

}  // namespace vnet::l2tpv3
