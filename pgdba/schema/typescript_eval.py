"""A small static evaluator for TypeScript schema files, on tree-sitter's syntax tree.

It evaluates what schema files are made of — literals, objects, arrays, spreads, template strings, `const`
bindings, arrow functions with an expression or `return` body, imports and re-exports between files of the
folder, member access and calls — and nothing else. Anything it cannot evaluate becomes an `Unknown` that
carries the reason and the place, so the caller can say what was not compared instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tree_sitter_typescript
from tree_sitter import Language, Node, Parser

from pgdba.errors import InputError

_LANGUAGE = Language(tree_sitter_typescript.language_typescript())
_TRANSPARENT = frozenset(
    {
        "parenthesized_expression",
        "as_expression",
        "satisfies_expression",
        "non_null_expression",
        "type_assertion",
    }
)
_MAX_DEPTH = 200
_MAX_CALL_DEPTH = 32  # user functions calling user functions: deeper than any schema helper, a recursion


class TypeScriptSyntaxError(InputError):
    """A TypeScript file that tree-sitter cannot parse; the message starts with FILE:LINE:COLUMN."""


@dataclass(frozen=True)
class Unknown:
    """A value the evaluator could not work out statically."""

    reason: str
    where: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class Function:
    """A user function (arrow or declaration) and the scope it closes over."""

    node: Node
    module: Module
    scope: dict[str, Any]


@dataclass
class Namespace:
    """`import * as x from "…"`: member access resolves names of that module."""

    module: Module | None
    package: str = ""


@dataclass
class BoundMethod:
    target: Any
    name: str


class Module:
    def __init__(self, path: Path, project: Project) -> None:
        self.path, self.project = path, project
        self.source = path.read_bytes()
        self.tree = project.parser.parse(self.source)
        self.declarations: dict[str, Node] = {}
        self.imports: dict[str, tuple[str, str]] = {}  # local name → (specifier, imported name or "*")
        self.exports: dict[str, str] = {}  # exported name → local name
        self.star_exports: list[str] = []
        self.values: dict[str, Any] = {}
        self._evaluating: set[str] = set()
        self._check_syntax()
        self._index()

    def where(self, node: Node) -> str:
        row, column = node.start_point
        return f"{self.path}:{row + 1}:{column + 1}"

    def text(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def _check_syntax(self) -> None:
        root = self.tree.root_node
        if not root.has_error:
            return
        bad = _first_error(root)
        where = self.where(bad) if bad is not None else f"{self.path}:1:1"
        what = "missing " + bad.type if bad is not None and bad.is_missing else "syntax error"
        raise TypeScriptSyntaxError(f"{where}: {what}")

    def _index(self) -> None:
        for statement in self.tree.root_node.named_children:
            exported = statement.type == "export_statement"
            declaration = statement.child_by_field_name("declaration") if exported else statement
            if exported and declaration is None:
                self._index_export_clause(statement)
                continue
            if declaration is None:
                continue
            if declaration.type == "import_statement":
                self._index_import(declaration)
            elif declaration.type in ("lexical_declaration", "variable_declaration"):
                for declarator in declaration.named_children:
                    name = declarator.child_by_field_name("name")
                    value = declarator.child_by_field_name("value")
                    if declarator.type != "variable_declarator" or name is None or value is None:
                        continue
                    if name.type == "identifier":  # destructuring patterns are not schema definitions
                        self.declarations[self.text(name)] = value
                        if exported:
                            self.exports[self.text(name)] = self.text(name)
            elif declaration.type == "function_declaration":
                name = declaration.child_by_field_name("name")
                if name is not None:
                    self.declarations[self.text(name)] = declaration
                    if exported:
                        self.exports[self.text(name)] = self.text(name)

    def _index_import(self, node: Node) -> None:
        source = node.child_by_field_name("source")
        if source is None:
            return
        specifier = _string_value(self, source)
        for clause in node.named_children:
            if clause.type != "import_clause":
                continue
            for part in clause.named_children:
                if part.type == "identifier":  # default import
                    self.imports[self.text(part)] = (specifier, "default")
                elif part.type == "namespace_import":
                    ident = part.named_children[0]
                    self.imports[self.text(ident)] = (specifier, "*")
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        if spec.type != "import_specifier":
                            continue
                        name = spec.child_by_field_name("name")
                        alias = spec.child_by_field_name("alias") or name
                        if name is not None and alias is not None:
                            self.imports[self.text(alias)] = (specifier, self.text(name))

    def _index_export_clause(self, statement: Node) -> None:
        source = statement.child_by_field_name("source")
        clause = next((c for c in statement.named_children if c.type == "export_clause"), None)
        if clause is None:
            if source is not None:
                self.star_exports.append(_string_value(self, source))
            return
        for spec in clause.named_children:
            name = spec.child_by_field_name("name")
            alias = spec.child_by_field_name("alias") or name
            if name is None or alias is None:
                continue
            if source is not None:
                local = f"\0re-export {self.text(alias)}"
                self.imports[local] = (_string_value(self, source), self.text(name))
                self.exports[self.text(alias)] = local
            else:
                self.exports[self.text(alias)] = self.text(name)

    def lookup(self, name: str, node: Node) -> Any:
        """A module-level name: its declaration evaluated once, or the import it names."""
        if name in self.values:
            return self.values[name]
        if name in self._evaluating:
            return Unknown(f"{name} refers to itself while being defined", self.where(node))
        if name in self.declarations:
            self._evaluating.add(name)
            try:
                value = self.project.evaluate(self.declarations[name], self, {})
            finally:
                self._evaluating.discard(name)
            self.values[name] = value
            return value
        if name in self.imports:
            specifier, imported = self.imports[name]
            value = self.project.resolve_import(self, specifier, imported, node)
            self.values[name] = value
            return value
        return Unknown(f"{name} is not defined in this file or imported", self.where(node))

    def export(self, name: str, node: Node, seen: frozenset[Path] = frozenset()) -> Any:
        if name in self.exports:
            return self.lookup(self.exports[name], node)
        for specifier in self.star_exports:
            module = self.project.module_for(self, specifier)
            if module is not None and module.path not in seen:
                value = module.export(name, node, seen | {self.path})
                if not isinstance(value, Unknown):
                    return value
        return Unknown(f"{self.path.name} exports no {name}", self.where(node))


def _first_error(node: Node) -> Node | None:
    if node.type == "ERROR" or node.is_missing:
        return node
    for child in node.children:
        if child.has_error or child.is_missing:
            found = _first_error(child)
            if found is not None:
                return found
    return None


def _string_value(module: Module, node: Node) -> str:
    text = module.text(node)
    return _unescape(text[1:-1]) if node.type == "string" and len(text) >= 2 else text


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _unescape(text: str) -> str:
    """JavaScript string escapes (\\n, \\', \\u00e9, \\u{1F600}, \\x41) to their characters."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 >= len(text):
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        i += 2
        if nxt == "u" and text[i : i + 1] == "{":
            end = text.find("}", i)
            code = text[i + 1 : end] if end > 0 else ""
            i = end + 1 if end > 0 else len(text)
            out.append(_char(code))
        elif nxt == "u":
            out.append(_char(text[i : i + 4]))
            i += 4
        elif nxt == "x":
            out.append(_char(text[i : i + 2]))
            i += 2
        elif nxt == "\n":
            continue
        else:
            out.append(_ESCAPES.get(nxt, nxt))
    return "".join(out)


def _char(hex_digits: str) -> str:
    try:
        return chr(int(hex_digits, 16))
    except (ValueError, OverflowError):
        return "\ufffd"


Package = Callable[[str, str, str], Any]  # (package specifier, imported name, where) → value


class Project:
    """Every .ts file of a folder (or one file), evaluated lazily on demand."""

    def __init__(self, files: list[Path], package: Package) -> None:
        self.parser = Parser(_LANGUAGE)
        self.package = package
        self.modules: dict[Path, Module] = {}
        for file in files:
            self.modules[file.resolve()] = Module(file, self)
        self.depth = 0
        self.call_depth = 0

    def module_for(self, module: Module, specifier: str) -> Module | None:
        if not specifier.startswith("."):
            return None
        base = (module.path.parent / specifier).resolve()
        stem = base.with_suffix("") if base.suffix in (".js", ".ts", ".mjs") else base
        for candidate in (base, stem.with_suffix(".ts"), stem.with_suffix(".tsx"), stem / "index.ts"):
            if candidate in self.modules:
                return self.modules[candidate]
            if candidate.is_file() and candidate.suffix in (".ts", ".tsx"):
                self.modules[candidate] = Module(candidate, self)
                return self.modules[candidate]
        return None

    def resolve_import(self, module: Module, specifier: str, imported: str, node: Node) -> Any:
        if not specifier.startswith("."):
            if imported == "*":
                return Namespace(None, specifier)
            return self.package(specifier, imported, module.where(node))
        target = self.module_for(module, specifier)
        if target is None:
            return Unknown(f"cannot find module {specifier!r}", module.where(node))
        if imported == "*":
            return Namespace(target)
        return target.export(imported, node)

    # --- expressions -------------------------------------------------------------------------------

    def evaluate(self, node: Node, module: Module, scope: dict[str, Any]) -> Any:
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                return Unknown("expression nested too deeply", module.where(node))
            return self._evaluate(node, module, scope)
        except RecursionError:
            if self.depth > 1:
                raise
            # the depth limits bound the common chains; Python's own limit is the last safety net
            return Unknown("expression nested too deeply", module.where(node))
        finally:
            self.depth -= 1

    def _evaluate(self, node: Node, module: Module, scope: dict[str, Any]) -> Any:
        kind = node.type
        if kind in _TRANSPARENT:
            inner = node.named_children[0] if node.named_children else None
            return self.evaluate(inner, module, scope) if inner is not None else None
        if kind == "string":
            return _string_value(module, node)
        if kind == "number":
            return _number(module.text(node))
        if kind in ("true", "false"):
            return kind == "true"
        if kind in ("null", "undefined"):
            return None
        if kind == "identifier":
            name = module.text(node)
            if name == "undefined":
                return None
            if name in scope:
                return scope[name]
            return module.lookup(name, node)
        if kind == "template_string":
            return self._template(node, module, scope)
        if kind == "object":
            return self._object(node, module, scope)
        if kind == "array":
            return self._array(node, module, scope)
        if kind in ("arrow_function", "function_expression", "function_declaration", "function"):
            return Function(node, module, scope)
        if kind == "member_expression":
            target = self.evaluate(node.child_by_field_name("object"), module, scope)  # type: ignore[arg-type]
            prop = node.child_by_field_name("property")
            return self.member(target, module.text(prop) if prop is not None else "", module, node)
        if kind == "subscript_expression":
            target = self.evaluate(node.child_by_field_name("object"), module, scope)  # type: ignore[arg-type]
            index = self.evaluate(node.child_by_field_name("index"), module, scope)  # type: ignore[arg-type]
            if isinstance(index, str | int | float):
                return self.member(
                    target, str(int(index)) if isinstance(index, float) else str(index), module, node
                )
            return (
                index if isinstance(index, Unknown) else Unknown("computed member access", module.where(node))
            )
        if kind == "call_expression":
            return self._call(node, module, scope)
        if kind == "unary_expression":
            argument = self.evaluate(node.child_by_field_name("argument"), module, scope)  # type: ignore[arg-type]
            operator = node.children[0].type
            if operator == "-" and isinstance(argument, int | float) and not isinstance(argument, bool):
                return -argument
            if operator == "!" and isinstance(argument, bool):
                return not argument
        if kind == "binary_expression":
            left = self.evaluate(node.child_by_field_name("left"), module, scope)  # type: ignore[arg-type]
            right = self.evaluate(node.child_by_field_name("right"), module, scope)  # type: ignore[arg-type]
            operator_node = node.child_by_field_name("operator")
            if operator_node is not None and operator_node.type == "+":
                if isinstance(left, str) and isinstance(right, str | int | float):
                    return left + _js_string(right)
                if isinstance(left, int | float) and isinstance(right, int | float):
                    return left + right
            for side in (left, right):
                if isinstance(side, Unknown):
                    return side
        return Unknown(f"cannot evaluate `{_excerpt(module.text(node))}` statically", module.where(node))

    def _template(self, node: Node, module: Module, scope: dict[str, Any]) -> Any:
        parts: list[str] = []
        for child in node.named_children:
            if child.type == "string_fragment":
                parts.append(module.text(child))
            elif child.type == "escape_sequence":
                parts.append(_unescape(module.text(child)))
            elif child.type == "template_substitution":
                value = self.evaluate(child.named_children[0], module, scope)
                if isinstance(value, Unknown):
                    return value
                if not isinstance(value, str | int | float):
                    return Unknown("template substitution is not a string", module.where(child))
                parts.append(_js_string(value))
        return "".join(parts)

    def template_parts(self, node: Node, module: Module, scope: dict[str, Any]) -> list[Any]:
        """A tagged template's pieces: str for text, evaluated values for ${…} (for sql`…`)."""
        parts: list[Any] = []
        for child in node.named_children:
            if child.type == "string_fragment":
                parts.append(module.text(child))
            elif child.type == "escape_sequence":
                parts.append(_unescape(module.text(child)))
            elif child.type == "template_substitution":
                parts.append(_Substitution(self.evaluate(child.named_children[0], module, scope)))
        return parts

    def _object(self, node: Node, module: Module, scope: dict[str, Any]) -> Any:
        result: dict[str, Any] = {}
        for child in node.named_children:
            if child.type == "pair":
                key_node = child.child_by_field_name("key")
                value_node = child.child_by_field_name("value")
                if key_node is None or value_node is None:
                    continue
                if key_node.type == "computed_property_name":
                    key = self.evaluate(key_node.named_children[0], module, scope)
                    if not isinstance(key, str | int | float):
                        return Unknown("computed property name", module.where(key_node))
                    key = _js_string(key)
                elif key_node.type == "string":
                    key = _string_value(module, key_node)
                else:
                    key = module.text(key_node)
                result[key] = self.evaluate(value_node, module, scope)
            elif child.type == "shorthand_property_identifier":
                name = module.text(child)
                result[name] = scope[name] if name in scope else module.lookup(name, child)
            elif child.type == "spread_element":
                spread = self.evaluate(child.named_children[0], module, scope)
                if isinstance(spread, dict):
                    result.update(spread)
                elif spread is None:
                    continue
                else:
                    return (
                        spread
                        if isinstance(spread, Unknown)
                        else Unknown("spread of a non-object", module.where(child))
                    )
            elif child.type == "method_definition":
                name_node = child.child_by_field_name("name")
                if name_node is not None:
                    result[module.text(name_node)] = Function(child, module, scope)
        return result

    def _array(self, node: Node, module: Module, scope: dict[str, Any]) -> Any:
        result: list[Any] = []
        for child in node.named_children:
            if child.type == "spread_element":
                spread = self.evaluate(child.named_children[0], module, scope)
                if isinstance(spread, list):
                    result.extend(spread)
                else:
                    return (
                        spread
                        if isinstance(spread, Unknown)
                        else Unknown("spread of a non-array", module.where(child))
                    )
            else:
                result.append(self.evaluate(child, module, scope))
        return result

    def member(self, target: Any, name: str, module: Module, node: Node) -> Any:
        if isinstance(target, Unknown):
            return target
        if isinstance(target, dict):
            return target.get(name, Unknown(f"no property {name!r}", module.where(node)))
        if isinstance(target, list):
            if name == "length":
                return len(target)
            if name.isdigit() and int(name) < len(target):
                return target[int(name)]
        if isinstance(target, Namespace):
            if target.module is not None:
                return target.module.export(name, node)
            return self.package(target.package, name, module.where(node))
        getter = getattr(target, "ts_member", None)
        if getter is not None:
            return getter(name, module.where(node))
        return BoundMethod(target, name)

    def _call(self, node: Node, module: Module, scope: dict[str, Any]) -> Any:
        callee_node = node.child_by_field_name("function")
        args_node = node.child_by_field_name("arguments")
        if callee_node is None or args_node is None:
            return Unknown("malformed call", module.where(node))
        callee = self.evaluate(callee_node, module, scope)
        where = module.where(node)
        if isinstance(callee, Unknown):
            if callee.where == where:
                return callee
            return Unknown(f"{callee.reason} (see {callee.where})", where)
        if args_node.type == "template_string":  # tagged template: sql`…`
            tag = getattr(callee, "ts_tag", None)
            if tag is None:
                return Unknown("unknown template tag", where)
            return tag(self.template_parts(args_node, module, scope), where)
        args: list[Any] = []
        for arg in args_node.named_children:
            if arg.type == "spread_element":
                spread = self.evaluate(arg.named_children[0], module, scope)
                if not isinstance(spread, list):
                    return Unknown("spread argument", module.where(arg))
                args.extend(spread)
            elif arg.type != "comment":
                args.append(self.evaluate(arg, module, scope))
        return self.call(callee, args, where)

    def call(self, callee: Any, args: list[Any], where: str) -> Any:
        if isinstance(callee, Function):
            return self.call_function(callee, args)
        if isinstance(callee, BoundMethod):
            method = getattr(callee.target, "ts_method", None)
            if method is not None:
                return method(callee.name, args, where)
            if isinstance(callee.target, str | list | dict) or callee.target is None:
                return Unknown(f"method .{callee.name}() of a plain value", where)
            return Unknown(f"cannot call .{callee.name}()", where)
        invoke = getattr(callee, "ts_call", None)
        if invoke is not None:
            return invoke(args, where)
        return Unknown("call of a value that is not a function", where)

    def call_function(self, function: Function, args: list[Any]) -> Any:
        if self.call_depth >= _MAX_CALL_DEPTH:
            return Unknown(
                f"function calls nested more than {_MAX_CALL_DEPTH} deep (a recursion?)",
                function.module.where(function.node),
            )
        self.call_depth += 1
        try:
            return self._function_result(function, args)
        finally:
            self.call_depth -= 1

    def _function_result(self, function: Function, args: list[Any]) -> Any:
        node, module = function.node, function.module
        scope = dict(function.scope)
        parameters = node.child_by_field_name("parameters") or node.child_by_field_name("parameter")
        if parameters is not None:
            params = [parameters] if parameters.type == "identifier" else parameters.named_children
            for index, param in enumerate(params):
                pattern = param.child_by_field_name("pattern") if param.type != "identifier" else param
                if pattern is None or pattern.type != "identifier":
                    continue
                value = args[index] if index < len(args) else None
                default = param.child_by_field_name("value")
                if value is None and default is not None:
                    value = self.evaluate(default, module, scope)
                scope[module.text(pattern)] = value
        body = node.child_by_field_name("body")
        if body is None:
            return Unknown("function without a body", module.where(node))
        if body.type != "statement_block":
            return self.evaluate(body, module, scope)
        for statement in body.named_children:
            if statement.type in ("lexical_declaration", "variable_declaration"):
                for declarator in statement.named_children:
                    name = declarator.child_by_field_name("name")
                    value_node = declarator.child_by_field_name("value")
                    if name is not None and value_node is not None and name.type == "identifier":
                        scope[module.text(name)] = self.evaluate(value_node, module, scope)
            elif statement.type == "return_statement":
                returned = statement.named_children[0] if statement.named_children else None
                return self.evaluate(returned, module, scope) if returned is not None else None
            elif statement.type in ("comment", "expression_statement", "empty_statement"):
                continue
            else:
                return Unknown(
                    f"function body with a {statement.type.replace('_', ' ')}", module.where(statement)
                )
        return None


@dataclass
class _Substitution:
    value: Any


def is_substitution(part: Any) -> bool:
    return isinstance(part, _Substitution)


def substitution_value(part: Any) -> Any:
    return part.value


def _number(text: str) -> int | float:
    cleaned = text.replace("_", "")
    try:
        if cleaned.lower().startswith(("0x", "0o", "0b")):
            return int(cleaned, 0)
        value = float(cleaned)
    except ValueError:
        return float("nan")
    return int(value) if value.is_integer() and "." not in cleaned and "e" not in cleaned.lower() else value


def _js_string(value: str | int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _excerpt(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= 60 else one_line[:57] + "..."
