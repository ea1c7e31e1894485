#!/usr/bin/env python3
"""qapi_gen.py - generates vnetd's typed QAPI layer from the schema files.

The schema files in ctl/schema/ (QEMU's QAPI syntax) are the one source of
truth. From them this writes, into OUTDIR:
  qapi_types.h/.cpp     C++ structs and enums, one per QAPI type
  qapi_visit.h/.cpp     decoders that walk a request with InputVisitor, so
                        every error reads as QEMU's qobject-input-visitor's
  qapi_encode.h/.cpp    to_json() for every type (replies and events)
  qapi_commands.h/.cpp  the handler interface and the dispatch table
  qapi_introspect.cpp   query-qmp-schema's answer in QEMU's format, and a
                        plain type table for the CLI's option parser

Usage: qapi_gen.py SCHEMA.json OUTDIR
"""
import ast
import json
import os
import sys
from collections import OrderedDict

# builtin -> (C++ type, InputVisitor method suffix, introspection name)
BUILTINS = {
    'str': ('std::string', 'str', 'str'),
    'bool': ('bool', 'bool', 'bool'),
    'number': ('double', 'number', 'number'),
    'int': ('int64_t', 'int64', 'int'),
    'int8': ('int8_t', 'int8', 'int'),
    'int16': ('int16_t', 'int16', 'int'),
    'int32': ('int32_t', 'int32', 'int'),
    'int64': ('int64_t', 'int64', 'int'),
    'uint8': ('uint8_t', 'uint8', 'int'),
    'uint16': ('uint16_t', 'uint16', 'int'),
    'uint32': ('uint32_t', 'uint32', 'int'),
    'uint64': ('uint64_t', 'uint64', 'int'),
    'size': ('uint64_t', 'size', 'int'),
    'any': ('nlohmann::ordered_json', 'any', 'any'),
}
JSON_TYPES = {'str': 'string', 'bool': 'boolean', 'number': 'number',
              'int': 'int', 'any': 'value'}

# Identifiers C++ (in gnu++ mode) would not take as names.
RESERVED = set('''alignas alignof and and_eq asm auto bitand bitor bool break
case catch char char8_t char16_t char32_t class compl concept const consteval
constexpr constinit const_cast continue co_await co_return co_yield decltype
default delete do double dynamic_cast else enum explicit export extern false
float for friend goto if inline int long mutable namespace new noexcept not
not_eq nullptr operator or or_eq private protected public register
reinterpret_cast requires return short signed sizeof static static_assert
static_cast struct switch template this thread_local throw true try typedef
typeid typename union unsigned using virtual void volatile wchar_t while xor
xor_eq unix linux errno'''.split())


def c_name(name):
    out = name.replace('-', '_').replace('.', '_')
    return out + '_' if out in RESERVED else out


def camel(name):
    return ''.join(p[:1].upper() + p[1:] for p in
                   name.replace('-', '_').lower().split('_'))


# ---------------------------------------------------------------- reading

def strip_comments(text):
    lines = []
    for line in text.splitlines():
        quote, kept = None, []
        for ch in line:
            if quote:
                kept.append(ch)
                if ch == quote:
                    quote = None
            elif ch in '\'"':
                quote = ch
                kept.append(ch)
            elif ch == '#':
                break
            else:
                kept.append(ch)
        lines.append(''.join(kept))
    return '\n'.join(lines)


def top_level_exprs(text):
    depth, start, quote = 0, None, None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in '\'"':
            quote = ch
        elif ch == '{':
            if depth == 0:
                start = i
            depth += 1
        elif ch == '}':
            depth -= 1
            if depth == 0:
                yield text[start:i + 1]


def json_literals_to_python(chunk):
    """QAPI writes JSON's true/false; Python's literal_eval wants True/False."""
    out, quote, i = [], None, 0
    while i < len(chunk):
        ch = chunk[i]
        if quote:
            quote = None if ch == quote else quote
        elif ch in '\'"':
            quote = ch
        elif chunk.startswith('true', i) or chunk.startswith('false', i):
            word = 'true' if chunk.startswith('true', i) else 'false'
            out.append(word.capitalize())
            i += len(word)
            continue
        out.append(ch)
        i += 1
    return ''.join(out)


def read_schema(path, seen, exprs, deps):
    path = os.path.normpath(path)
    if path in seen:
        return
    seen.add(path)
    deps.append(path)
    with open(path) as f:
        text = strip_comments(f.read())
    for chunk in top_level_exprs(text):
        expr = ast.literal_eval(json_literals_to_python(chunk))
        if 'include' in expr:
            read_schema(os.path.join(os.path.dirname(path), expr['include']),
                        seen, exprs, deps)
        else:
            exprs.append(expr)


def members_of(data):
    """QAPI 'data' dict -> list of (name, type, optional)."""
    out = []
    for key, typ in data.items():
        if isinstance(typ, dict):
            typ = typ['type']
        optional = key.startswith('*')
        out.append((key[1:] if optional else key, typ, optional))
    return out


class Schema:
    def __init__(self, exprs):
        self.enums = OrderedDict()     # name -> [values]
        self.structs = OrderedDict()   # name -> [(member, type, optional)]
        self.unions = OrderedDict()    # name -> dict(base, tag, variants)
        self.commands = OrderedDict()  # name -> dict(arg, boxed, ret)
        self.events = OrderedDict()    # name -> arg type or None
        for e in exprs:
            if 'enum' in e:
                self.enums[e['enum']] = [v['name'] if isinstance(v, dict) else v
                                         for v in e['data']]
            elif 'struct' in e:
                base = self.structs[e['base']] if 'base' in e else []
                self.structs[e['struct']] = base + members_of(e['data'])
            elif 'union' in e:
                base = e['base']
                base = members_of(base) if isinstance(base, dict) else self.structs[base]
                self.unions[e['union']] = {
                    'base': base, 'tag': e['discriminator'],
                    'variants': OrderedDict(
                        (k, v['type'] if isinstance(v, dict) else v)
                        for k, v in e['data'].items())}
            elif 'command' in e:
                name = e['command']
                self.commands[name] = {
                    'arg': self.implicit_struct(e.get('data'), camel(name) + 'Args'),
                    'boxed': e.get('boxed', False), 'ret': e.get('returns')}
            elif 'event' in e:
                name = e['event']
                self.events[name] = self.implicit_struct(e.get('data'), camel(name) + 'Data')

    def implicit_struct(self, data, name):
        if data is None or isinstance(data, str):
            return data
        self.structs[name] = members_of(data)
        return name

    def kind(self, typ):
        if isinstance(typ, list):
            return 'list'
        if typ in BUILTINS:
            return 'builtin'
        if typ in self.enums:
            return 'enum'
        if typ in self.structs:
            return 'struct'
        if typ in self.unions:
            return 'union'
        raise SystemExit(f'qapi_gen: unknown type {typ!r}')

    def tag_enum(self, union):
        u = self.unions[union]
        return next(t for n, t, _ in u['base'] if n == u['tag'])


# ---------------------------------------------------------------- C++ types

def cpp_type(s, typ):
    k = s.kind(typ)
    if k == 'list':
        return f'std::vector<{cpp_type(s, typ[0])}>'
    if k == 'builtin':
        return BUILTINS[typ][0]
    return typ


def list_fn(s, typ):
    elem = typ[0]
    return 'visit_type_' + (c_name(elem) if s.kind(elem) != 'list' else 'x') + 'List'


def type_deps(s, typ):
    """Named types that must be complete before typ's struct is defined."""
    k = s.kind(typ)
    if k == 'list':
        return type_deps(s, typ[0])
    if k in ('struct', 'union', 'enum'):
        return [typ]
    return []


def ordered_types(s):
    order, done = [], set()

    def visit(name):
        if name in done:
            return
        done.add(name)
        k = s.kind(name)
        if k == 'struct':
            for _, t, _ in s.structs[name]:
                for d in type_deps(s, t):
                    visit(d)
        elif k == 'union':
            for _, t, _ in s.unions[name]['base']:
                for d in type_deps(s, t):
                    visit(d)
            for t in s.unions[name]['variants'].values():
                visit(t)
        order.append(name)

    for n in list(s.enums) + list(s.structs) + list(s.unions):
        visit(n)
    return order


def gen_types(s):
    h = ['// Generated by ctl/qapi/qapi_gen.py from ctl/schema/: do not edit.',
         '#pragma once', '', '#include <cstdint>', '#include <optional>',
         '#include <string>', '#include <string_view>', '#include <variant>',
         '#include <vector>', '', '#include <nlohmann/json.hpp>', '',
         'namespace vnet::qapi {', '']
    cpp = ['// Generated by ctl/qapi/qapi_gen.py: do not edit.',
           '#include "qapi_types.h"', '', 'namespace vnet::qapi {', '']
    for name in ordered_types(s):
        k = s.kind(name)
        if k == 'enum':
            vals = s.enums[name]
            h.append(f'enum class {name} : int {{ ' +
                     ', '.join(c_name(v) for v in vals) + ' };')
            h.append(f'inline constexpr std::string_view {name}_names[] = {{ ' +
                     ', '.join(json.dumps(v) for v in vals) + ' };')
            h.append(f'std::string_view to_string({name} value);')
            h.append('')
            cpp.append(f'std::string_view to_string({name} value) {{')
            cpp.append(f'  return {name}_names[static_cast<int>(value)];')
            cpp.append('}')
            cpp.append('')
        elif k == 'struct':
            h.append(f'struct {name} {{')
            for m, t, opt in s.structs[name]:
                ct = cpp_type(s, t)
                h.append(f'  std::optional<{ct}> {c_name(m)};' if opt
                         else f'  {ct} {c_name(m)}{{}};')
            h.append('};')
            h.append('')
        else:
            u = s.unions[name]
            h.append(f'struct {name} {{')
            for m, t, opt in u['base']:
                ct = cpp_type(s, t)
                h.append(f'  std::optional<{ct}> {c_name(m)};' if opt
                         else f'  {ct} {c_name(m)}{{}};')
            branches = list(OrderedDict.fromkeys(u['variants'].values()))
            h.append('  // The members of the branch that the tag selects.')
            h.append('  std::variant<std::monostate, ' + ', '.join(branches) + '> u;')
            h.append('};')
            h.append('')
    h += ['}  // namespace vnet::qapi', '']
    cpp += ['}  // namespace vnet::qapi', '']
    return '\n'.join(h), '\n'.join(cpp)


# ---------------------------------------------------------------- decoding

def visit_member_call(s, typ, name_expr, ref):
    k = s.kind(typ)
    if k == 'builtin':
        return f'v.type_{BUILTINS[typ][1]}({name_expr}, {ref})'
    if k == 'list':
        return f'{list_fn(s, typ)}(v, {name_expr}, {ref})'
    return f'visit_type_{typ}(v, {name_expr}, {ref})'


def visit_members_body(s, members):
    out = []
    for m, t, opt in members:
        field = f'obj.{c_name(m)}'
        if opt:
            out.append(f'  if (v.optional("{m}")) {{')
            out.append(f'    if (!{visit_member_call(s, t, json.dumps(m), field + ".emplace()")}) return false;')
            out.append('  }')
        else:
            out.append(f'  if (!{visit_member_call(s, t, json.dumps(m), field)}) return false;')
    return out


def used_lists(s):
    lists = OrderedDict()

    def note(t):
        if isinstance(t, list):
            note(t[0])
            lists[json.dumps(t)] = t

    for ms in s.structs.values():
        for _, t, _ in ms:
            note(t)
    for u in s.unions.values():
        for _, t, _ in u['base']:
            note(t)
    for c in s.commands.values():
        if c['ret'] is not None:
            note(c['ret'])
    return list(lists.values())


def gen_visit(s):
    h = ['// Generated by ctl/qapi/qapi_gen.py: do not edit.', '#pragma once', '',
         '#include "ctl/qapi/input_visitor.h"', '#include "qapi_types.h"', '',
         'namespace vnet::qapi {', '']
    cpp = ['// Generated by ctl/qapi/qapi_gen.py: do not edit.',
           '#include "qapi_visit.h"', '', 'namespace vnet::qapi {', '']
    for name in ordered_types(s):
        k = s.kind(name)
        if k == 'enum':
            h.append(f'bool visit_type_{name}(InputVisitor& v, const char* name, {name}& obj);')
            cpp += [f'bool visit_type_{name}(InputVisitor& v, const char* name, {name}& obj) {{',
                    '  int index = 0;',
                    f'  if (!v.type_enum(name, index, {name}_names)) return false;',
                    f'  obj = static_cast<{name}>(index);', '  return true;', '}', '']
            continue
        h.append(f'bool visit_type_{name}_members(InputVisitor& v, {name}& obj);')
        h.append(f'bool visit_type_{name}(InputVisitor& v, const char* name, {name}& obj);')
        cpp.append(f'bool visit_type_{name}_members(InputVisitor& v, {name}& obj) {{')
        if k == 'struct':
            cpp += visit_members_body(s, s.structs[name])
            cpp.append('  return true;')
        else:
            u = s.unions[name]
            cpp += visit_members_body(s, u['base'])
            tag_enum = s.tag_enum(name)
            cpp.append(f'  switch (obj.{c_name(u["tag"])}) {{')
            for case, branch in u['variants'].items():
                cpp.append(f'    case {tag_enum}::{c_name(case)}:')
                cpp.append(f'      return visit_type_{branch}_members(v, obj.u.emplace<{branch}>());')
            cpp.append('    default:')
            cpp.append('      return true;')
            cpp.append('  }')
        cpp += ['}', '',
                f'bool visit_type_{name}(InputVisitor& v, const char* name, {name}& obj) {{',
                '  if (!v.start_struct(name)) return false;',
                f'  bool ok = visit_type_{name}_members(v, obj) && v.check_struct();',
                '  v.end_struct();', '  return ok;', '}', '']
    for t in used_lists(s):
        fn = list_fn(s, t)
        ct = cpp_type(s, t)
        h.append(f'bool {fn}(InputVisitor& v, const char* name, {ct}& obj);')
        cpp += [f'bool {fn}(InputVisitor& v, const char* name, {ct}& obj) {{',
                '  if (!v.start_list(name)) return false;',
                '  bool ok = true;',
                '  while (ok && v.next_list()) {',
                f'    ok = {visit_member_call(s, t[0], "nullptr", "obj.emplace_back()")};',
                '  }', '  v.end_list();', '  return ok;', '}', '']
    h += ['', '}  // namespace vnet::qapi', '']
    cpp += ['}  // namespace vnet::qapi', '']
    return '\n'.join(h), '\n'.join(cpp)


# ---------------------------------------------------------------- encoding

def gen_encode(s):
    h = ['// Generated by ctl/qapi/qapi_gen.py: do not edit.', '#pragma once', '',
         '#include <nlohmann/json.hpp>', '', '#include "qapi_types.h"', '',
         'namespace vnet::qapi {', '']
    cpp = ['// Generated by ctl/qapi/qapi_gen.py: do not edit.',
           '#include "qapi_encode.h"', '', 'namespace vnet::qapi {', '']

    def member_lines(members):
        out = []
        for m, _, opt in members:
            if opt:
                out.append(f'  if (obj.{c_name(m)}) j[{json.dumps(m)}] = *obj.{c_name(m)};')
            else:
                out.append(f'  j[{json.dumps(m)}] = obj.{c_name(m)};')
        return out

    for name in ordered_types(s):
        k = s.kind(name)
        h.append(f'void to_json(nlohmann::ordered_json& j, const {name}& obj);')
        cpp.append(f'void to_json(nlohmann::ordered_json& j, const {name}& obj) {{')
        if k == 'enum':
            cpp.append('  j = std::string(to_string(obj));')
        elif k == 'struct':
            cpp.append('  j = nlohmann::ordered_json::object();')
            cpp += member_lines(s.structs[name])
        else:
            u = s.unions[name]
            cpp.append('  j = nlohmann::ordered_json::object();')
            cpp += member_lines(u['base'])
            cpp.append('  std::visit([&j](const auto& branch) {')
            cpp.append('    using B = std::decay_t<decltype(branch)>;')
            cpp.append('    if constexpr (!std::is_same_v<B, std::monostate>) {')
            cpp.append('      nlohmann::ordered_json members = branch;')
            cpp.append('      for (auto& [key, value] : members.items()) j[key] = value;')
            cpp.append('    }')
            cpp.append('  }, obj.u);')
        cpp += ['}', '']
    h += ['', '}  // namespace vnet::qapi', '']
    cpp += ['}  // namespace vnet::qapi', '']
    return '\n'.join(h), '\n'.join(cpp)


# ---------------------------------------------------------------- commands

def ret_cpp(s, c):
    return 'Empty' if c['ret'] is None else cpp_type(s, c['ret'])


def gen_commands(s):
    h = ['// Generated by ctl/qapi/qapi_gen.py: do not edit.', '#pragma once', '',
         '#include <span>', '#include <string_view>', '',
         '#include <nlohmann/json.hpp>', '', '#include "ctl/qapi/qmp_error.h"',
         '#include "qapi_types.h"', '', 'namespace vnet::qapi {', '',
         '// What a command handler learns of the session that sent it.',
         'struct CommandContext;', '',
         '// One method per command; arguments arrive decoded and checked.',
         'class CommandHandlers {', ' public:', '  virtual ~CommandHandlers() = default;']
    for name, c in s.commands.items():
        args = 'CommandContext& ctx'
        if c['arg']:
            args += f', const {c["arg"]}& args'
        h.append(f'  virtual QmpResult<{ret_cpp(s, c)}> qmp_{c_name(name)}({args}) = 0;')
    h += ['};', '',
          'using Marshal = QmpResult<nlohmann::ordered_json> (*)(',
          '    CommandHandlers& handlers, CommandContext& ctx, const nlohmann::ordered_json& args);', '',
          'struct CommandDescriptor {', '  std::string_view name;', '  Marshal marshal;', '};', '',
          '// Every command of the schema, in schema order.',
          'std::span<const CommandDescriptor> all_commands();',
          'const CommandDescriptor* find_command(std::string_view name);', '',
          '}  // namespace vnet::qapi', '']
    cpp = ['// Generated by ctl/qapi/qapi_gen.py: do not edit.',
           '#include "qapi_commands.h"', '', '#include "ctl/qmp/qemu_json_writer.h"', '#include "qapi_encode.h"',
           '#include "qapi_visit.h"', '', 'namespace vnet::qapi {', '', 'namespace {', '']
    for name, c in s.commands.items():
        cn = c_name(name)
        cpp.append(f'QmpResult<nlohmann::ordered_json> marshal_{cn}(')
        cpp.append('    CommandHandlers& handlers, CommandContext& ctx, const nlohmann::ordered_json& args) {')
        # As QEMU's marshallers: visit the arguments object as a struct even
        # when the command takes none, so stray members are refused.
        cpp.append('  InputVisitor v(args);')
        cpp.append('  if (!v.start_struct(nullptr)) return v.take_error();')
        if c['arg']:
            cpp.append(f'  {c["arg"]} arg;')
            cpp.append(f'  bool ok = visit_type_{c["arg"]}_members(v, arg) && v.check_struct();')
            call = f'handlers.qmp_{cn}(ctx, arg)'
        else:
            cpp.append('  bool ok = v.check_struct();')
            call = f'handlers.qmp_{cn}(ctx)'
        cpp += ['  v.end_struct();', '  if (!ok) return v.take_error();',
                f'  auto result = {call};', '  if (!result) return result.error();']
        if c['ret'] is None:
            cpp.append('  return nlohmann::ordered_json::object();')
        elif s.kind(c['ret']) == 'list':
            # Element by element, each written out before the next is built:
            # a reply listing 10,000 netdevs never holds a tree of them all.
            cpp += ['  auto out = nlohmann::ordered_json::array();',
                    '  for (const auto& element : result.value()) {',
                    '    out.push_back(qmp::prerendered_json(qmp::to_qemu_json(nlohmann::ordered_json(element))));',
                    '  }',
                    '  return out;']
        else:
            cpp.append('  return nlohmann::ordered_json(result.value());')
        cpp += ['}', '']
    cpp += ['const CommandDescriptor kCommands[] = {']
    for name in s.commands:
        cpp.append(f'    {{"{name}", &marshal_{c_name(name)}}},')
    cpp += ['};', '', '}  // namespace', '',
            'std::span<const CommandDescriptor> all_commands() { return kCommands; }', '',
            'const CommandDescriptor* find_command(std::string_view name) {',
            '  for (const auto& c : kCommands) {', '    if (c.name == name) return &c;', '  }',
            '  return nullptr;', '}', '', '}  // namespace vnet::qapi', '']
    return '\n'.join(h), '\n'.join(cpp)


# ---------------------------------------------------------------- introspection

def introspection(s):
    """query-qmp-schema as QEMU's qapi/introspect.py shapes it: commands and
    events by name, every other type under a number, integers as 'int'."""
    names, entities, builtins, arrays = {}, [], OrderedDict(), OrderedDict()
    names['q_empty'] = '0'
    entities.append({'name': '0', 'meta-type': 'object', 'members': []})

    def members_json(members):
        out = []
        for m, t, opt in members:
            d = {'name': m}
            if opt:
                d['default'] = None
            d['type'] = use(t)
            out.append(d)
        return out

    def use(t):
        if t is None:
            return '0'
        k = s.kind(t)
        if k == 'builtin':
            b = BUILTINS[t][2]
            builtins.setdefault(b, {'name': b, 'meta-type': 'builtin',
                                    'json-type': JSON_TYPES[b]})
            return b
        if k == 'list':
            elem = use(t[0])
            n = f'[{elem}]'
            arrays.setdefault(n, {'name': n, 'meta-type': 'array', 'element-type': elem})
            return n
        if t in names:
            return names[t]
        n = str(len(names))
        names[t] = n
        ent = {'name': n}
        entities.append(ent)
        if k == 'enum':
            ent['meta-type'] = 'enum'
            ent['members'] = [{'name': v} for v in s.enums[t]]
            ent['values'] = list(s.enums[t])
        elif k == 'struct':
            ent['meta-type'] = 'object'
            ent['members'] = members_json(s.structs[t])
        else:
            u = s.unions[t]
            ent['meta-type'] = 'object'
            ent['members'] = members_json(u['base'])
            ent['tag'] = u['tag']
            ent['variants'] = [{'case': v, 'type': use(u['variants'].get(v))}
                               for v in s.enums[s.tag_enum(t)]]
        return n

    top = []
    for name, c in s.commands.items():
        top.append({'name': name, 'meta-type': 'command',
                    'arg-type': use(c['arg']), 'ret-type': use(c['ret'])})
    for name, arg in s.events.items():
        top.append({'name': name, 'meta-type': 'event', 'arg-type': use(arg)})
    return top + entities + list(arrays.values()) + list(builtins.values())


def type_table(s):
    """The schema in plain terms, for the CLI's -netdev option parser."""
    def ms(members):
        return [{'name': m, 'type': t, 'optional': o} for m, t, o in members]
    types = {}
    for n, v in s.enums.items():
        types[n] = {'kind': 'enum', 'values': v}
    for n, v in s.structs.items():
        types[n] = {'kind': 'struct', 'members': ms(v)}
    for n, u in s.unions.items():
        types[n] = {'kind': 'union', 'members': ms(u['base']), 'tag': u['tag'],
                    'variants': u['variants']}
    commands = {n: {'arg-type': c['arg'], 'boxed': c['boxed']} for n, c in s.commands.items()}
    return {'types': types, 'commands': commands, 'events': list(s.events)}


def gen_introspect(s):
    def raw(name, obj):
        text = json.dumps(obj, separators=(',', ':'))
        return f'extern const char {name}[] = R"vnetqapi({text})vnetqapi";'
    return '\n'.join([
        '// Generated by ctl/qapi/qapi_gen.py: do not edit.',
        'namespace vnet::qapi {', '',
        '// query-qmp-schema\'s answer.', raw('kIntrospection', introspection(s)), '',
        '// The schema as a type table, for the CLI.', raw('kTypeTable', type_table(s)), '',
        '}  // namespace vnet::qapi', ''])


def write_file(path, text):
    with open(path, 'w') as f:
        f.write(text)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    exprs, deps = [], []
    read_schema(sys.argv[1], set(), exprs, deps)
    s = Schema(exprs)
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for stem, gen in (('qapi_types', gen_types), ('qapi_visit', gen_visit),
                      ('qapi_encode', gen_encode), ('qapi_commands', gen_commands)):
        h, cpp = gen(s)
        write_file(os.path.join(out, stem + '.h'), h)
        write_file(os.path.join(out, stem + '.cpp'), cpp)
    write_file(os.path.join(out, 'qapi_introspect.cpp'), gen_introspect(s))


if __name__ == '__main__':
    main()
