"""A small real parser for Prisma schema files: a tokenizer and a recursive-descent parser that build a
syntax tree and report errors as FILE:LINE:COLUMN. It knows the grammar, not the meaning (prisma_source.py
turns the tree into the schema model)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from pgdba.errors import InputError

BLOCK_KINDS = frozenset({"model", "view", "enum", "datasource", "generator", "type"})


class PrismaSyntaxError(InputError):
    """A Prisma schema that does not parse; the message starts with FILE:LINE:COLUMN."""

    def __init__(self, path: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{path}:{line}:{column}: {message}")
        self.path, self.line, self.column, self.reason = path, line, column, message


class Token(NamedTuple):
    kind: str  # IDENT, STRING, NUMBER, NEWLINE, EOF, AT, ATAT, or the symbol itself
    text: str
    line: int
    column: int


@dataclass
class Call:
    """`name(args)` — a function value (`now()`, `dbgenerated("…")`) or a field reference with arguments."""

    name: str
    args: list[Argument]


@dataclass
class Ref:
    """A bare name: an identifier, `true`/`false`, an enum value, a field or `Desc`."""

    name: str


@dataclass
class Object:
    """`{ key: value, … }` — an object value, as partial indexes' `where: { deletedAt: null }` writes one."""

    entries: list[Argument]


Value = str | int | float | list["Value"] | Call | Ref | Object  # str: a string literal; numbers parsed


@dataclass
class Argument:
    name: str | None
    value: Value


@dataclass
class Attribute:
    name: str  # "id", "db.VarChar", "map" … without the @ / @@
    args: list[Argument]
    line: int
    column: int

    def positional(self, index: int = 0) -> Value | None:
        unnamed = [a.value for a in self.args if a.name is None]
        return unnamed[index] if len(unnamed) > index else None

    def named(self, name: str) -> Value | None:
        for argument in self.args:
            if argument.name == name:
                return argument.value
        return None


@dataclass
class FieldDecl:
    name: str
    type_name: str
    type_args: list[Argument]  # Unsupported("tsvector")
    optional: bool
    is_list: bool
    attributes: list[Attribute]
    line: int
    column: int

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)


@dataclass
class EnumValueDecl:
    name: str
    attributes: list[Attribute]
    line: int


@dataclass
class Setting:
    key: str
    value: Value


@dataclass
class Block:
    kind: str
    name: str
    path: str
    line: int
    fields: list[FieldDecl] = field(default_factory=list)
    values: list[EnumValueDecl] = field(default_factory=list)
    settings: list[Setting] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)  # @@…

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)


_TOKEN = re.compile(
    r"""
    (?P<NEWLINE>\n)
    | (?P<SPACE>[ \t\r\ufeff]+)
    | (?P<COMMENT>//[^\n]*)
    | (?P<BLOCK_COMMENT>/\*.*?\*/)
    | (?P<STRING>"(?:[^"\\\n]|\\[^\n])*")
    | (?P<ATAT>@@)
    | (?P<AT>@)
    | (?P<NUMBER>-?\d[\d.]*)
    | (?P<IDENT>[^\W\d][\w-]*)
    | (?P<SYMBOL>[{}()\[\],:=?.!])
    | (?P<ERROR>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(text: str, path: str) -> list[Token]:
    """The tokens of a schema; a character that starts no token is an error at its line and column."""
    tokens: list[Token] = []
    append = tokens.append
    line, line_start = 1, 0
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "SPACE" or kind == "COMMENT":
            continue
        value, start = match.group(), match.start()
        column = start - line_start + 1
        if kind == "NEWLINE":
            append(Token("NEWLINE", "\n", line, column))
            line, line_start = line + 1, start + 1
        elif kind == "SYMBOL":
            append(Token(value, value, line, column))
        elif kind == "STRING":
            inner = value[1:-1]
            append(
                Token(
                    "STRING", _unescape(inner, path, line, column) if "\\" in inner else inner, line, column
                )
            )
        elif kind == "BLOCK_COMMENT":  # not Prisma syntax, but harmless to accept
            if "\n" in value:
                line += value.count("\n")
                line_start = start + value.rfind("\n") + 1
        elif kind == "ERROR":
            if value == '"':
                raise PrismaSyntaxError(path, line, column, "unterminated string")
            if text.startswith("/*", start):
                raise PrismaSyntaxError(path, line, column, "unterminated /* comment")
            raise PrismaSyntaxError(path, line, column, f"unexpected character {value!r}")
        else:
            append(Token(kind or "", value, line, column))
    i = len(text)
    tokens.append(Token("EOF", "", line, i - line_start + 1))
    return tokens


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'", "0": "\0"}


def _unescape(text: str, path: str, line: int, column: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 >= len(text):
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u":
            try:
                out.append(chr(int(text[i + 2 : i + 6], 16)))
            except ValueError:
                raise PrismaSyntaxError(path, line, column + i + 1, "bad \\u escape") from None
            i += 6
            continue
        out.append(_ESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


class _Parser:
    def __init__(self, tokens: list[Token], path: str) -> None:
        self.tokens, self.path, self.i = tokens, path, 0
        self.kinds = [t.kind for t in tokens]  # the parser looks at kinds far more often than at tokens

    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, token: Token | None = None) -> PrismaSyntaxError:
        at = token or self.token
        found = (
            "end of file" if at.kind == "EOF" else "end of line" if at.kind == "NEWLINE" else repr(at.text)
        )
        return PrismaSyntaxError(self.path, at.line, at.column, f"{message}, found {found}")

    def take(self, kind: str, what: str = "") -> Token:
        if self.kinds[self.i] != kind:
            raise self.error(f"expected {what or kind}")
        self.i += 1
        return self.tokens[self.i - 1]

    def accept(self, kind: str) -> Token | None:
        if self.kinds[self.i] == kind:
            self.i += 1
            return self.tokens[self.i - 1]
        return None

    def skip_newlines(self) -> None:
        kinds, i = self.kinds, self.i
        while kinds[i] == "NEWLINE":
            i += 1
        self.i = i

    def end_of_line(self) -> None:
        if self.token.kind not in ("NEWLINE", "}", "EOF"):
            raise self.error("expected end of line")
        self.accept("NEWLINE")

    def schema(self) -> list[Block]:
        blocks: list[Block] = []
        while True:
            self.skip_newlines()
            if self.token.kind == "EOF":
                return blocks
            blocks.append(self.block())

    def block(self) -> Block:
        kind_token = self.take("IDENT", "a block (model, enum, datasource, generator, view, type)")
        if kind_token.text not in BLOCK_KINDS:
            raise PrismaSyntaxError(
                self.path, kind_token.line, kind_token.column, f"unknown block type {kind_token.text!r}"
            )
        name = self.take("IDENT", f"a {kind_token.text} name").text
        self.skip_newlines()
        self.take("{", "'{'")
        block = Block(kind_token.text, name, self.path, kind_token.line)
        while True:
            self.skip_newlines()
            if self.accept("}"):
                return block
            if self.token.kind == "EOF":
                raise self.error(f"expected '}}' closing {kind_token.text} {name}")
            if self.token.kind == "ATAT":
                self.i += 1
                block.attributes.append(self.attribute_body())
                self.end_of_line()
            elif block.kind in ("datasource", "generator"):
                block.settings.append(self.setting())
            elif block.kind == "enum":
                block.values.append(self.enum_value())
            else:
                block.fields.append(self.field_decl())

    def setting(self) -> Setting:
        key = self.take("IDENT", "a setting name").text
        self.take("=", "'='")
        value = self.value()
        self.end_of_line()
        return Setting(key, value)

    def enum_value(self) -> EnumValueDecl:
        name = self.take("IDENT", "an enum value")
        attributes = []
        while self.accept("AT"):
            attributes.append(self.attribute_body())
        self.end_of_line()
        return EnumValueDecl(name.text, attributes, name.line)

    def field_decl(self) -> FieldDecl:
        name = self.take("IDENT", "a field name")
        type_token = self.take("IDENT", f"a type for field {name.text!r}")
        type_name, type_args = type_token.text, []
        while self.accept(
            "."
        ):  # a composite type in another namespace is not a PostgreSQL thing; keep it whole
            type_name += "." + self.take("IDENT", "a type name").text
        if self.accept("("):
            type_args = self.arguments(")")
        optional = is_list = False
        if self.accept("["):
            self.take("]", "']'")
            is_list = True
        if self.accept("?"):
            optional = True
        self.accept("!")
        attributes = []
        while self.token.kind in ("AT", "ATAT"):
            if self.token.kind == "ATAT":
                raise self.error("block attributes (@@) go on their own line")
            self.i += 1
            attributes.append(self.attribute_body())
        self.end_of_line()
        return FieldDecl(
            name.text, type_name, type_args, optional, is_list, attributes, name.line, name.column
        )

    def attribute_body(self) -> Attribute:
        start = self.take("IDENT", "an attribute name")
        name = start.text
        while self.accept("."):
            name += "." + self.take("IDENT", "an attribute name").text
        args = self.arguments(")") if self.accept("(") else []
        return Attribute(name, args, start.line, start.column)

    def arguments(self, closing: str) -> list[Argument]:
        args: list[Argument] = []
        while True:
            self.skip_newlines()
            if self.accept(closing):
                return args
            if self.token.kind == "IDENT" and self.tokens[self.i + 1].kind == ":":
                name = self.token.text
                self.i += 2
                self.skip_newlines()
                args.append(Argument(name, self.value()))
            else:
                args.append(Argument(None, self.value()))
            self.skip_newlines()
            if not self.accept(","):
                self.skip_newlines()
                self.take(closing, f"',' or {closing!r}")
                return args

    def value(self) -> Value:
        token = self.token
        if token.kind == "STRING":
            self.i += 1
            return token.text
        if token.kind == "NUMBER":
            self.i += 1
            try:
                return float(token.text) if "." in token.text else int(token.text)
            except ValueError:
                raise self.error("malformed number", token) from None
        if token.kind == "[":
            self.i += 1
            return [a.value for a in self.arguments("]")]
        if token.kind == "{":
            self.i += 1
            return self.object_value(token)
        if token.kind == "IDENT":
            self.i += 1
            name = token.text
            while self.accept("."):
                name += "." + self.take("IDENT", "a name").text
            if self.accept("("):
                return Call(name, self.arguments(")"))
            return Ref(name)
        raise self.error("expected a value")

    def object_value(self, opening: Token) -> Object:
        """The entries of `{ key: value, … }` after its `{`; every entry is named."""
        entries = self.arguments("}")
        unnamed = next((a for a in entries if a.name is None), None)
        if unnamed is not None:
            raise PrismaSyntaxError(
                self.path, opening.line, opening.column, "an object's entries are `key: value`"
            )
        return Object(entries)


def parse_prisma(text: str, path: str = "schema.prisma") -> list[Block]:
    """The blocks of one Prisma schema file; PrismaSyntaxError (an InputError) with FILE:LINE:COLUMN."""
    return _Parser(tokenize(text, path), path).schema()
