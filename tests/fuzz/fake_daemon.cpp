#include "tests/fuzz/fake_daemon.h"

#include <cstdio>
#include <cstdlib>

#include "backends/tap/tap_plan.h"
#include "backends/user/user_options.h"
#include "qapi_encode.h"

namespace vnet::fuzz {

namespace {

using json = nlohmann::ordered_json;

// The text is passed apart so that a contract that holds costs no copy of it.
void contract(bool holds, std::string_view what, std::string_view text = {}) {
  if (!holds) contract_broken(std::string(what) + std::string(text));
}

// Validates a reply and checks its shape without building it: a query's
// reply grows with what the input added, and one input can draw thousands of
// error replies; building each one was most of an input's time.
struct ReplyShape : nlohmann::json_sax<json> {
  int depth = 0;
  bool object = false, has_return = false, has_error = false;
  bool error_is_object = false, class_is_string = false, desc_is_string = false;

  bool null() override { return scalar(false); }
  bool boolean(bool) override { return scalar(false); }
  bool number_integer(number_integer_t) override { return scalar(false); }
  bool number_unsigned(number_unsigned_t) override { return scalar(false); }
  bool number_float(number_float_t, const string_t&) override { return scalar(false); }
  bool string(string_t&) override { return scalar(true); }
  bool binary(binary_t&) override { return scalar(false); }
  bool start_object(std::size_t) override {
    if (depth == 0) object = true;
    if (depth == 1 && key_ == Key::error) error_is_object = in_error_ = true;
    depth++;
    key_ = Key::other;
    return true;
  }
  bool end_object() override {
    if (--depth == 1) in_error_ = false;
    return true;
  }
  bool start_array(std::size_t) override {
    depth++;
    key_ = Key::other;
    return true;
  }
  bool end_array() override {
    depth--;
    return true;
  }
  bool key(string_t& name) override {
    key_ = Key::other;
    if (depth == 1) {
      if (name == "return") has_return = true;
      if (name == "error") {
        has_error = true;
        key_ = Key::error;
      }
    } else if (depth == 2 && in_error_) {
      if (name == "class") key_ = Key::error_class;
      if (name == "desc") key_ = Key::error_desc;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  enum class Key { other, error, error_class, error_desc };
  Key key_ = Key::other;
  bool in_error_ = false;

  bool scalar(bool is_string) {
    if (depth == 2 && key_ == Key::error_class) class_is_string = is_string;
    if (depth == 2 && key_ == Key::error_desc) desc_is_string = is_string;
    key_ = Key::other;
    return true;
  }
};

// A backend that stands for any netdev type: it holds no kernel object.
class FakeBackend : public Backend {
 public:
  FakeBackend(std::string type, std::string ifname, bool guest_nic)
      : type_(std::move(type)), ifname_(std::move(ifname)), guest_nic_(guest_nic) {}
  std::vector<Detail> details() const override {
    std::vector<Detail> out{{"fake", type_}};
    if (!ifname_.empty()) out.push_back({"ifname", ifname_});
    return out;
  }
  bool is_guest_nic() const override { return guest_nic_; }

 private:
  std::string type_;
  std::string ifname_;
  bool guest_nic_;
};

// The real commands but one: query-qmp-schema answers with an empty list.
// Its answer is fixed data (80 KiB, checked by the unit and interop tests)
// that takes no arguments; written and read back for every mutated input
// that reached it, it cost milliseconds each and found nothing.
class FuzzCommands : public VnetdCommands {
 public:
  using VnetdCommands::VnetdCommands;
  QmpResult<std::vector<nlohmann::ordered_json>> qmp_query_qmp_schema(qapi::CommandContext&) override {
    return std::vector<nlohmann::ordered_json>{};
  }
};

QmpResult<std::unique_ptr<Backend>> fake_backend(const qapi::Netdev& netdev, DaemonResources& resources,
                                                 const BackendRequest& request) {
  using T = qapi::NetClientDriver;
  std::string type(to_string(netdev.type));
  std::string ifname;
  switch (netdev.type) {
    case T::hubport:
      return std::unique_ptr<Backend>(
          resources.hubs.add_port(std::get<qapi::NetdevHubPortOptions>(netdev.u).hubid, netdev.id));
    case T::tap: {
      auto plan = tap::plan_tap(std::get<qapi::NetdevTapOptions>(netdev.u));
      if (!plan) return generic_error(plan.error().message);
      ifname = plan->ifname;
      break;
    }
    case T::user:
      if (auto plan = user::plan_user(std::get<qapi::NetdevUserOptions>(netdev.u)); !plan) {
        return generic_error(plan.error().message);
      }
      break;
    default: break;
  }
  if (request.restore_tap) ifname = request.restore_tap->ifname;
  return std::unique_ptr<Backend>(std::make_unique<FakeBackend>(type, ifname, netdev.type == T::nic));
}

// Shared by every input: they hold no netdev's state (taps are never made,
// so the teardown queue never gets work). One rtnetlink socket, not a
// change through it.
struct Shared {
  TeardownQueue teardown;
  rtnl::Rtnl rtnl = std::move(rtnl::Rtnl::connect().value());
  bridge::BridgeAcl acl = bridge::BridgeAcl::parse("allow all\n", "fuzz").value();
};

Shared& shared() {
  static Shared* instance = new Shared;  // never destroyed: its threads outlive exit handlers
  return *instance;
}

}  // namespace

void contract_broken(const std::string& what) {
  std::fprintf(stderr, "fuzz contract broken: %s\n", what.c_str());
  std::abort();
}

void FakeDaemon::Sink::emit(std::string_view name, json data) {
  // An event must be writable as a QMP text (valid UTF-8 throughout).
  contract(!name.empty(), "an event without a name");
  (void)data.dump();
}

FakeDaemon::FakeDaemon()
    : resources_{hubs_, shared().teardown, shared().rtnl, shared().acl, "", nullptr, ProgramPolicy{}, fake_backend} {
  auto loop = EventLoop::create();
  contract(static_cast<bool>(loop), "epoll_create");
  loop_ = std::move(*loop);
  announcer_ = std::make_unique<Announcer>(*loop_, registry_);
  commands_ = std::make_unique<FuzzCommands>(registry_, resources_, events_, *announcer_);
  session_ = std::make_unique<qmp::Session>(*commands_);
}

FakeDaemon::~FakeDaemon() {
  session_.reset();
  commands_.reset();
  announcer_.reset();  // its timers are on the loop
}

void FakeDaemon::feed(std::string_view bytes) {
  for (const auto& framed : framer_.feed(bytes)) {
    qmp::Reply reply = session_->handle(framed);
    if (reply.deferred) continue;  // vmm-attach only, and this daemon has no VMM attachments
    contract(!reply.text.empty() && reply.text.back() == '\n', "a reply that is not one line: ", reply.text);
    ReplyShape shape;
    contract(json::sax_parse(reply.text, &shape) && shape.object, "a reply that is not a JSON object: ", reply.text);
    contract(shape.has_return != shape.has_error, "a reply with neither return nor error, or both: ", reply.text);
    contract(!shape.has_error || (shape.error_is_object && shape.class_is_string && shape.desc_is_string),
             "an error without class and desc: ", reply.text);
  }
}

json FakeDaemon::ask(const std::string& request) {
  qmp::JsonFramer framer;
  auto framed = framer.feed(request);
  contract(framed.size() == 1, "a request that is not one text: ", request);
  qmp::Reply reply = session_->handle(framed[0]);
  json answer = json::parse(reply.text, nullptr, false);
  contract(answer.is_object(), "a reply that is not a JSON object: ", reply.text);
  return answer;
}

}  // namespace vnet::fuzz
