"""Pseudonyms for a site file: people and customers replaced consistently, everywhere.

The same person gets the same pseudonym in every place they appear: as an assignee, a group
member, a comment author, an ADF or wiki mention, a name in a sentence ("Priya, can you..."),
a changelog entry, the bot's own state, and a ``ri:user`` link on a deal page. Customers (the
accounts of deal pages and the account field of tickets) likewise, in titles, summaries,
comments, field values and storage bodies.

What the policies match on stays as it was: issue types, statuses, labels, group and field
names, project keys, dates, and every word of the policy files (a person called "Will" does
not take the word "will" out of a keyword list). Identities go by exact value; free text by
whole words: full names first, then each distinctive part of a name. Names of people who are
not Jira users (a customer's contact named in a comment) are not known and are not replaced;
email addresses are, all of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

#: words of company names too common to identify anyone ("Acme Corp" -> only "Acme" is)
GENERIC_WORDS = frozenset({
    "ag", "and", "bv", "co", "company", "corp", "corporation", "gmbh", "group", "holding",
    "holdings", "inc", "industries", "international", "limited", "llc", "ltd", "of", "plc",
    "sa", "sarl", "services", "solutions", "systems", "technologies", "the",
})
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_ATTR = re.compile(r"""(\s)([\w:.-]+)(\s*=\s*)(["'])(.*?)(\4)""", re.DOTALL)
_MARKUP = re.compile(r"(<!\[CDATA\[.*?\]\]>|<!--.*?-->|<[^>]*>)", re.DOTALL)
#: storage-format attributes that hold a user identity, not text
_USER_ATTRS = frozenset({"ri:account-id", "ri:username", "ri:userkey"})


def words_of(texts: Iterable[str]) -> frozenset[str]:
    """Every word of ``texts``, lower-cased (what the anonymizer must never replace)."""
    return frozenset(w.lower() for text in texts for w in _WORD.findall(text))


def policy_words(text: str) -> frozenset[str]:
    """Every word of a policy file's keys and values (its comments do not count: an example
    in a comment that names a person must not shield that person's name)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return words_of([text])
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                found.append(str(key))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif node is not None:
            found.append(str(node))

    walk(data)
    return words_of(found)


@dataclass(frozen=True, slots=True)
class Identity:
    """One person's identities as the site file holds them."""

    account_id: str
    name: str
    display_name: str
    email: str | None = None
    confluence_key: str | None = None


@dataclass(slots=True)
class Anonymizer:
    """A consistent mapping from real identities and customer names to pseudonyms."""

    #: exact identity value -> pseudonym (account ids, usernames, keys)
    idents: dict[str, str] = field(default_factory=dict)
    #: lower-cased email -> pseudonym email
    emails: dict[str, str] = field(default_factory=dict)
    #: lower-cased phrase (full names, then name parts) -> pseudonym phrase
    phrases: dict[str, str] = field(default_factory=dict)
    #: words never replaced in free text (the policies match on them)
    protected: frozenset[str] = frozenset()
    #: project keys: an all-capitals word equal to one is a key, not a name
    project_keys: frozenset[str] = frozenset()
    _pattern: re.Pattern[str] | None = None
    _contacts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        people: Iterable[Identity],
        customers: Iterable[str],
        *,
        protected: Collection[str] = (),
        project_keys: Collection[str] = (),
        bot: Identity | None = None,
    ) -> Anonymizer:
        """Pseudonyms for ``people`` (Person 1, 2...), ``customers`` (Customer 1, 2...) and
        the bot; ``protected`` words (lower case) are never replaced as parts of names."""
        keep = {w.lower() for w in protected}
        out = cls(project_keys=frozenset(project_keys), protected=frozenset(keep))
        parts: dict[str, str] = {}
        everyone = list(people)
        if bot is not None:
            # the bot is a product, not a person: its identities go, its name stays (the
            # comment templates sign with it)
            out._person(bot, Identity("anon-bot", "policy-bot", bot.display_name,
                                      "policy-bot@example.invalid", "f" * 32), None, keep)
        for n, person in enumerate(everyone, start=1):
            same = person.account_id == person.name
            pseudo = Identity(
                account_id=f"anon-{n:04d}" if same else f"anon-key-{n:04d}",
                name=f"anon-{n:04d}" if same else f"user{n:04d}",
                display_name=f"Person {n}",
                email=f"person{n}@example.invalid",
                confluence_key=f"{n:032x}",
            )
            out._person(person, pseudo, parts, keep)
        for n, customer in enumerate(dict.fromkeys(c.strip() for c in customers if c.strip()),
                                     start=1):
            pseudo_name = f"Customer {n}"
            out.phrases.setdefault(customer.lower(), pseudo_name)
            for word in _WORD.findall(customer):
                low = word.lower()
                if len(word) >= 3 and low not in GENERIC_WORDS and low not in keep:
                    parts.setdefault(low, pseudo_name)
        for low, pseudo_name in parts.items():
            out.phrases.setdefault(low, pseudo_name)
        return out

    def _person(self, real: Identity, pseudo: Identity, parts: dict[str, str] | None,
                keep: set[str]) -> None:
        self.idents.setdefault(real.account_id, pseudo.account_id)
        self.idents.setdefault(real.name, pseudo.name)
        if real.confluence_key and pseudo.confluence_key:
            self.idents.setdefault(real.confluence_key, pseudo.confluence_key)
        if real.email and pseudo.email:
            self.emails.setdefault(real.email.lower(), pseudo.email)
        if parts is None:
            return
        self.phrases.setdefault(real.display_name.lower(), pseudo.display_name)
        for word in _WORD.findall(real.display_name):
            low = word.lower()
            if len(word) >= 2 and low not in keep:
                parts.setdefault(low, pseudo.display_name)

    # ----------------------------------------------------------------- values

    def ident(self, value: str) -> str:
        """An identity (account id, username, key) -> its pseudonym; other text as text."""
        found = self.idents.get(value)
        return found if found is not None else self.text(value)

    def email(self, value: str) -> str:
        """An email address -> its pseudonym (unknown addresses get a contact pseudonym)."""
        low = value.lower()
        known = self.emails.get(low)
        if known is not None:
            return known
        return self._contacts.setdefault(low, f"contact{len(self._contacts) + 1}@example.invalid")

    def text(self, value: str) -> str:
        """Free text with every known name, customer, identity and email replaced."""
        if not value:
            return value
        return self._regex().sub(self._replace, value)

    def _regex(self) -> re.Pattern[str]:
        if self._pattern is None:
            def alternation(items: Iterable[str]) -> str:
                ordered = sorted(set(items), key=lambda s: (-len(s), s))
                return "|".join(re.escape(s) for s in ordered) or r"(?!x)x"

            # a username that is a word the policies match on ("will") stays in free text
            ids = alternation(k for k in self.idents if k and k.lower() not in self.protected)
            phrases = alternation(self.phrases)
            self._pattern = re.compile(
                rf"(?P<email>{_EMAIL.pattern})"
                rf"|(?<![\w-])(?P<id>{ids})(?![\w-])"
                rf"|(?<!\w)(?P<phrase>(?i:{phrases}))(?!\w)"
            )
        return self._pattern

    def _replace(self, match: re.Match[str]) -> str:
        text = match.group(0)
        if match.group("email") is not None:
            return self.email(text)
        if match.group("id") is not None:
            return self.idents[text]
        after = match.string[match.end():match.end() + 2]
        if text.isupper() and (text in self.project_keys or re.match(r"-\d", after)):
            return text  # ACME-12 or ACME: a project key, which the policies may name
        return self.phrases[text.lower()]

    def json(self, value: Any) -> Any:
        """Any JSON value with identities (exact) and text (by words) replaced; dictionary
        keys stay (policy ids, property names)."""
        if isinstance(value, str):
            return self.ident(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value

    def adf(self, node: Any) -> Any:
        """An ADF document: text nodes as text, mentions by identity, node types kept."""
        if isinstance(node, list):
            return [self.adf(n) for n in node]
        if not isinstance(node, dict):
            return self.text(node) if isinstance(node, str) else node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("type", "localId", "version"):
                out[key] = value
            elif key == "attrs" and isinstance(value, dict) and node.get("type") == "mention":
                attrs = dict(value)
                if isinstance(attrs.get("id"), str):
                    attrs["id"] = self.ident(attrs["id"])
                if isinstance(attrs.get("text"), str):
                    attrs["text"] = self.text(attrs["text"])
                out[key] = attrs
            else:
                out[key] = self.adf(value)
        return out

    def storage(self, body: str) -> str:
        """A Confluence storage body: user links by identity, everything else as text.

        The markup itself is kept byte for byte; only text between tags and attribute values
        change, so the page keeps its real shape.
        """
        out: list[str] = []
        for n, piece in enumerate(_MARKUP.split(body)):
            if n % 2 == 0:
                out.append(self.text(piece))
            elif piece.startswith("<![CDATA["):
                out.append("<![CDATA[" + self.text(piece[9:-3]) + "]]>")
            elif piece.startswith("<!--"):
                out.append(piece)
            else:
                out.append(_ATTR.sub(self._attribute, piece))
        return "".join(out)

    def _attribute(self, match: re.Match[str]) -> str:
        name, value = match.group(2), match.group(5)
        new = self.idents.get(value, value) if name in _USER_ATTRS else self.text(value)
        return f"{match.group(1)}{name}{match.group(3)}{match.group(4)}{new}{match.group(6)}"


# --------------------------------------------------------------------------- the site file


def anonymize_site(
    site: Mapping[str, Any],
    *,
    customers: Iterable[str],
    protected: Collection[str] = (),
    others: Iterable[Identity] = (),
) -> tuple[dict[str, Any], Anonymizer]:
    """The site dict with people and customers replaced, and the anonymizer that did it
    (kept in memory only: the mapping back to real names is never written anywhere).

    ``others`` are the site's users the read did not meet: they are not in the file, but a
    sentence may still name them ("review with Ravi").
    """
    users = [
        Identity(str(u["account_id"]), str(u["name"]), str(u["display_name"]), u.get("email"),
                 u.get("confluence_key"))
        for u in site.get("users") or []
    ]
    met = {u.account_id for u in users} | {u.name for u in users}
    bot_ids = {str(site["site"]["bot"]["account_id"]), str(site["site"]["bot"]["name"])}
    for other in others:
        if not ({other.account_id, other.name} & (met | bot_ids)):
            met |= {other.account_id, other.name}
            users.append(other)
    top = site["site"]
    raw_bot = top["bot"]
    bot = Identity(str(raw_bot["account_id"]), str(raw_bot["name"]),
                   str(raw_bot["display_name"]), raw_bot.get("email"))
    kept = set(protected)
    kept |= words_of(str(s) for s in site.get("workflow") or {})
    kept |= words_of(str(t) for t in site.get("issue_types") or [])
    kept |= words_of(str(g.get("name", "")) for g in site.get("groups") or [])
    kept |= words_of(str(f.get("name", "")) for f in site.get("fields") or [])
    for issue in site.get("issues") or []:
        kept |= words_of(str(label) for label in issue.get("labels") or [])
    # a site word that is also a person's name (a label "sam-review") does not shield the
    # name; only the policy files' own words do
    kept -= words_of(u.display_name for u in users) - set(protected)
    anon = Anonymizer.build(
        users, customers, protected=kept, bot=bot,
        project_keys=[str(p["key"]) for p in site.get("projects") or []],
    )
    return _walk_site(site, anon), anon


def _walk_site(site: Mapping[str, Any], anon: Anonymizer) -> dict[str, Any]:
    ident, text = anon.ident, anon.text
    top = dict(site["site"])
    raw_bot = top["bot"]
    top["bot"] = {
        **raw_bot,
        "account_id": anon.idents[str(raw_bot["account_id"])],
        "name": anon.idents[str(raw_bot["name"])],
        "display_name": str(raw_bot["display_name"]),
        "email": anon.email(str(raw_bot["email"])),
    }
    out: dict[str, Any] = {"site": top}
    out["users"] = [_user(u, anon) for u in site.get("users") or []]
    out["groups"] = [{**g, "members": [ident(str(m)) for m in g.get("members") or []]}
                     for g in site.get("groups") or []]
    out["fields"] = [
        {**f, "options": [text(str(o)) for o in f["options"]]} if f.get("options") else dict(f)
        for f in site.get("fields") or []
    ]
    for key in ("workflow", "issue_types"):
        if key in site:
            out[key] = site[key]
    out["projects"] = [_with(p, name=text, lead=ident) for p in site.get("projects") or []]
    out["issues"] = [_issue(i, anon) for i in site.get("issues") or []]
    confluence = site.get("confluence")
    if isinstance(confluence, Mapping):
        out["confluence"] = {
            "spaces": [_with(s, name=text) for s in confluence.get("spaces") or []],
            "pages": [
                _with(p, title=text, storage=anon.storage, body=text, created_by=ident,
                      updated_by=ident, properties=lambda v: _properties(v, anon))
                for p in confluence.get("pages") or []
            ],
        }
    return out


def _with(entry: Mapping[str, Any], **how: Callable[[Any], Any]) -> dict[str, Any]:
    return {k: (how[k](v) if k in how and v is not None else v) for k, v in entry.items()}


def _user(u: Mapping[str, Any], anon: Anonymizer) -> dict[str, Any]:
    out = _with(u, account_id=anon.ident, name=anon.ident, display_name=anon.text,
                email=anon.email)
    if u.get("confluence_key"):
        out["confluence_key"] = anon.idents.get(str(u["confluence_key"]), "0" * 32)
    return out


def _properties(value: Mapping[str, Any], anon: Anonymizer) -> dict[str, Any]:
    # "@name" is how the site file links a user in a rendered Page Properties value
    return {k: ("@" + anon.ident(v[1:]) if isinstance(v, str) and v.startswith("@")
                else anon.text(str(v)))
            for k, v in value.items()}


def _issue(issue: Mapping[str, Any], anon: Anonymizer) -> dict[str, Any]:
    ident, text = anon.ident, anon.text

    def field_value(v: Any) -> Any:
        if isinstance(v, list):
            return [text(str(x)) for x in v]
        return text(v) if isinstance(v, str) else v

    return _with(
        issue,
        summary=text,
        description=text,
        assignee=ident,
        reporter=ident,
        fields=lambda fs: {k: field_value(v) for k, v in fs.items()},
        comments=lambda cs: [
            _with(c, author=ident, body=text, adf=anon.adf,
                  visibility=lambda v: _with(v, value=text))
            for c in cs
        ],
        properties=lambda ps: {k: anon.json(v) for k, v in ps.items()},
        changelog=lambda hs: [
            _with(h, author=ident, items=lambda items: [
                _with(it, **{"from": ident, "to": ident, "fromString": text, "toString": text})
                for it in items
            ])
            for h in hs
        ],
    )
