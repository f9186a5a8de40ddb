"""ssh_config read in Python, for machines without an `ssh` client to ask (`ssh -G`).

It follows OpenSSH 9.2's readconf.c for what tfstudio uses, and the oracle suite
(tests/fleet/test_sshconfig_oracle.py) holds it to `ssh -G` case by case:

- the command line first (`-l`, `-p`, `-o`), then the user's config (or `-F FILE`),
  then /etc/ssh/ssh_config; the first value obtained wins, except IdentityFile and
  CertificateFile, which accumulate;
- `Host` pattern lists (`*`, `?`, `!` negation) against the host as given; `Match`
  with all, host, originalhost, user, localuser, exec, canonical and final, each
  evaluated once, in order, against the values obtained so far (a `Match final`
  asks for the second pass ssh makes);
- `Include` with globs, relative to ~/.ssh (user config) or /etc/ssh;
- words split as OpenSSH splits them: `=` or whitespace after the keyword, double
  or single quotes, backslash escapes, and a `#` that starts a word ends the line
  (ProxyCommand keeps the rest of its line as written);
- an unknown keyword, a missing or extra argument, a bad number: a ConfigError with
  ssh's wording, as ssh stops there too.

It does not canonicalise host names (CanonicalizeHostname yes/always is refused in
one line naming the client it needs).
"""

from __future__ import annotations

import getpass
import glob
import ipaddress
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tfstudio.errors import ConfigError
from tfstudio.transport.knownhosts import match_pattern, match_pattern_list
from tfstudio.transport.sshhops import parse_hop
from tfstudio.transport.sshtokens import Connection, expand_path, home_dir, percent_expand

SYSTEM_CONFIG = Path("/etc/ssh/ssh_config")
MAX_DEPTH = 16
"""Include depth OpenSSH allows."""

SINGLE = frozenset(
    "user hostname port identitiesonly identityagent hostkeyalias connecttimeout "
    "addressfamily bindaddress bindinterface pkcs11provider smartcarddevice "
    "securitykeyprovider knownhostscommand proxyusefdpass pubkeyauthentication "
    "canonicalizehostname ignoreunknown stricthostkeychecking".split()
)
"""Single-valued keywords this reader keeps (the first value wins)."""
MULTI = frozenset({"identityfile", "certificatefile"})
LISTS = frozenset({"userknownhostsfile", "globalknownhostsfile"})
"""Keywords whose one setting is a list of words (the first setting wins)."""
COMMANDS = frozenset({"proxycommand", "knownhostscommand"})
"""Keywords whose value is the rest of the line as written."""

OTHER = frozenset(
    """forwardagent forwardx11 forwardx11trusted forwardx11timeout exitonforwardfailure
    xauthlocation gatewayports passwordauthentication kbdinteractiveauthentication
    kbdinteractivedevices challengeresponseauthentication skeyauthentication
    tisauthentication dsaauthentication hostbasedauthentication identityfile2
    addkeystoagent ciphers macs remoteforward localforward permitremoteopen
    escapechar connectionattempts batchmode checkhostip compression tcpkeepalive
    keepalive numberofpasswordprompts syslogfacility loglevel logverbose dynamicforward
    preferredauthentications hostkeyalgorithms casignaturealgorithms
    clearallforwardings enablesshkeysign verifyhostkeydns nohostauthenticationforlocalhost
    rekeylimit serveraliveinterval serveralivecountmax sendenv setenv controlpath
    controlmaster controlpersist hashknownhosts tunnel tunneldevice localcommand
    permitlocalcommand remotecommand visualhostkey kexalgorithms ipqos requesttty
    sessiontype stdinnull forkafterauthentication canonicaldomains
    canonicalizefallbacklocal canonicalizemaxdots canonicalizepermittedcnames
    streamlocalbindmask streamlocalbindunlink revokedhostkeys fingerprinthash
    updatehostkeys hostbasedacceptedalgorithms hostbasedkeytypes
    pubkeyacceptedalgorithms pubkeyacceptedkeytypes requiredrsasize
    enableescapecommandline gssapiauthentication gssapidelegatecredentials
    gssapikeyexchange gssapiclientidentity gssapiserveridentity gssapirenewalforcesrekey
    gssapitrustdns gssapikexalgorithms protocol cipher fallbacktorsh globalknownhostsfile2
    rhostsauthentication userknownhostsfile2 useroaming usersh useprivilegedport
    afstokenpassing kerberosauthentication kerberostgtpassing rsaauthentication
    rhostsrsaauthentication compressionlevel""".split()
)
"""Keywords ssh knows and this reader passes over (they change nothing tfstudio does)."""

DEFAULT_IDENTITIES = tuple(
    f"~/.ssh/{n}"
    for n in ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss",
              "id_dsa")
)  # fmt: skip
DEFAULT_USER_KNOWN = "~/.ssh/known_hosts ~/.ssh/known_hosts2"
DEFAULT_GLOBAL_KNOWN = "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2"


def split_words(text: str, where: str) -> list[str]:
    """OpenSSH's argv_split with comments: whitespace-separated words, quotes, `\\`
    escapes; a word starting with `#` ends the line. Raises ConfigError on bad quotes."""
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n or text[i] == "#":
            break
        word: list[str] = []
        quote = ""
        while i < n:
            ch = text[i]
            if ch == "\\" and i + 1 < n and (quote == "" or text[i + 1] in ('"', "'", "\\")):
                word.append(text[i + 1])
                i += 2
                continue
            if quote:
                if ch == quote:
                    quote = ""
                else:
                    word.append(ch)
                i += 1
                continue
            if ch in "\"'":
                quote = ch
                i += 1
                continue
            if ch in " \t\r\n":
                break
            word.append(ch)
            i += 1
        if quote:
            raise ConfigError(f"{where}: invalid quotes")
        words.append("".join(word))
    return words


class _Reader:
    """One resolution: the options obtained so far and how the files are read."""

    def __init__(self, host: str, user: str | None, port: int | None) -> None:
        self.host_arg = host
        self.local_user = getpass.getuser()
        self.values: dict[str, list[str]] = {}
        self.final_pass = False
        self.want_final = False
        self.hostname_for_match: str | None = None
        if user:
            self.values["user"] = [user]
        if port:
            self.values["port"] = [str(port)]

    # -- files --------------------------------------------------------------

    def read_file(self, path: Path, *, user_conf: bool, check_perm: bool, depth: int,
                  active: bool, never_match: bool = False) -> bool:  # fmt: skip
        """Reads one file; returns False when it does not exist."""
        if depth > MAX_DEPTH:
            raise ConfigError("too many recursive configuration includes")
        try:
            data = path.read_bytes()
            if check_perm:
                st = path.stat()
                if (st.st_uid not in (0, os.getuid())) or st.st_mode & 0o022:
                    raise ConfigError(f"Bad owner or permissions on {path}")
        except FileNotFoundError:
            return False
        except IsADirectoryError:
            return False
        except OSError as exc:
            raise ConfigError(f"cannot read ssh config {path}: {exc.strerror}") from exc
        state = {"active": active}
        bad: list[str] = []
        for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            try:
                self.line(raw, f"{path} line {number}", state, user_conf, depth, never_match)
            except _BadOption as exc:
                bad.append(str(exc))
        if bad:
            raise ConfigError(f"{bad[0]}; {path}: terminating, {len(bad)} bad configuration "
                              f"option{'s' if len(bad) > 1 else ''}")  # fmt: skip
        return True

    # -- lines --------------------------------------------------------------

    def line(self, raw: str, where: str, state: dict[str, bool], user_conf: bool, depth: int,
             never_match: bool) -> None:  # fmt: skip
        text = raw.rstrip(" \t\r\n\f")
        stripped = text.lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            return
        keyword, rest = _keyword(stripped)
        if keyword.startswith("#") or not keyword:
            return
        keyword = keyword.lower()
        if not rest:
            raise _BadOption(f'{where}: no argument after keyword "{keyword}"')
        cmdline = where == "command-line"
        active = state["active"] if not cmdline else True
        if keyword in COMMANDS:
            # The rest of the line, as written (a `#` in it is the shell's business).
            jump = self.values.get("proxyjump")
            if keyword == "proxycommand" and jump and jump[0].lower() != "none":
                return  # a ProxyJump already obtained wins over a later ProxyCommand
            if active and keyword not in self.values:
                self.values[keyword] = [rest]
            return
        if keyword == "proxyjump":
            self._proxyjump(rest, where, active)
            return
        words = split_words(rest, where)
        if keyword == "host":
            state["active"] = False if never_match else self._host_matches(words)
            return
        if keyword == "match":
            result = self._match(words, where)
            state["active"] = False if never_match else result
            return
        if keyword == "include":
            self._include(words, where, state, user_conf, depth)
            return
        if keyword not in SINGLE | MULTI | LISTS | OTHER:
            ignored = self.values.get("ignoreunknown")
            if ignored and match_pattern_list(keyword, ignored[0], lower=True) == 1:
                return
            raise _BadOption(f"{where}: Bad configuration option: {keyword}")
        if keyword in OTHER:
            return
        if not words:
            raise _BadOption(f"{where}: Missing argument.")
        if keyword in LISTS:
            if active and keyword not in self.values:
                self.values[keyword] = [" ".join(words)]
            return
        if len(words) > 1:
            raise _BadOption(f"{where}: keyword {keyword} extra arguments at end of line")
        value = words[0]
        if keyword == "port":
            if not (value.isdigit() and 0 < int(value) < 65536):
                raise _BadOption(f"{where}: Bad port '{value}'.")
            value = str(int(value))
        elif keyword == "connecttimeout":
            value = _seconds(value, where)
        elif keyword == "canonicalizehostname" and value.lower() not in ("no", "false"):
            raise ConfigError(
                f"{where}: CanonicalizeHostname {value} needs OpenSSH's own client to resolve "
                "names; install openssh-client (tfstudio then asks `ssh -G`)"
            )
        if not active:
            return
        if keyword in MULTI:
            self.values.setdefault(keyword, [])
            if value not in self.values[keyword]:
                self.values[keyword].append(value)
        elif keyword not in self.values:
            self.values[keyword] = [value]

    def _proxyjump(self, rest: str, where: str, active: bool) -> None:
        spec = rest.split("#", 1)[0].strip()
        if spec.lower() != "none":
            for hop in spec.split(","):
                try:
                    parse_hop(hop.strip(), self.host_arg)
                except ConfigError:
                    raise _BadOption(f'{where}: Invalid ProxyJump "{rest}"') from None
        if not active or "proxyjump" in self.values or "proxycommand" in self.values:
            return
        self.values["proxyjump"] = [spec]

    def _host_matches(self, patterns: Sequence[str]) -> bool:
        matched = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            if match_pattern(self.host_arg, pattern[1:] if negated else pattern):
                if negated:
                    return False
                matched = True
        return matched

    def _match(self, words: list[str], where: str) -> bool:
        host = self._current_host()
        user = self.values.get("user", [self.local_user])[0]
        result = True
        attributes = 0
        i = 0
        while i < len(words):
            attribute = words[i]
            negate = attribute.startswith("!")
            name = (attribute[1:] if negate else attribute).lower()
            i += 1
            if name == "all":
                if attributes or i < len(words):
                    raise _BadOption(f"{where}: '{attribute}' cannot be combined with other "
                                     "Match attributes")  # fmt: skip
                return result and not negate
            attributes += 1
            if name in ("canonical", "final"):
                if name == "final":
                    self.want_final = True
                if self.final_pass == negate:
                    result = False
                continue
            if i >= len(words):
                raise _BadOption(f"{where}: Missing Match criteria for {name}")
            argument = words[i]
            i += 1
            if name == "host":
                hit = match_pattern_list(host.lower(), argument, lower=True) == 1
            elif name == "originalhost":
                hit = match_pattern_list(self.host_arg.lower(), argument, lower=True) == 1
            elif name == "user":
                hit = match_pattern_list(user, argument, lower=False) == 1
            elif name == "localuser":
                hit = match_pattern_list(self.local_user, argument, lower=False) == 1
            elif name == "exec":
                if not result:
                    continue  # ssh skips the command once a criterion failed
                hit = self._exec(argument, host, user)
            else:
                raise _BadOption(f"{where}: Unsupported Match attribute {name}")
            if hit == negate:
                result = False
        if attributes == 0:
            raise _BadOption(f"{where}: One or more attributes required for Match")
        return result

    def _exec(self, command: str, host: str, user: str) -> bool:
        port = int(self.values.get("port", ["22"])[0])
        alias = (self.values.get("hostkeyalias") or [""])[0] or None
        tokens = Connection(self.host_arg, host, port, user, alias).tokens()
        expanded = percent_expand(command, tokens, "Match exec")
        shell = os.environ.get("SHELL") or "/bin/sh"
        proc = subprocess.run(
            [shell, "-c", expanded],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
        return proc.returncode == 0

    def _current_host(self) -> str:
        if self.final_pass and self.hostname_for_match is not None:
            return self.hostname_for_match
        hostname = self.values.get("hostname")
        if hostname:
            return percent_expand(hostname[0], {"h": self.host_arg, "%": "%"}, "HostName")
        return self.host_arg

    def _include(self, words: list[str], where: str, state: dict[str, bool], user_conf: bool,
                 depth: int) -> None:  # fmt: skip
        if not words:
            raise _BadOption(f"{where}: Missing argument.")
        for word in words:
            if word.startswith("~") and not user_conf:
                raise _BadOption(f"{where}: bad include path {word}.")
            if not word.startswith(("/", "~")):
                word = ("~/.ssh/" if user_conf else "/etc/ssh/") + word
            pattern = os.path.expanduser(word)
            active = state["active"]
            for found in sorted(glob.glob(pattern)):
                self.read_file(Path(found), user_conf=user_conf, check_perm=True,
                               depth=depth + 1, active=active, never_match=not active)  # fmt: skip
                state["active"] = active  # an included Match never leaks out

    # -- the answer -----------------------------------------------------------

    def result(self) -> dict[str, tuple[str, ...]]:
        hostname = self._current_host()
        try:
            ipaddress.ip_address(hostname)
        except ValueError:
            hostname = hostname.lower()
        user = self.values.get("user", [self.local_user])[0]
        port = int(self.values.get("port", ["22"])[0])
        alias = (self.values.get("hostkeyalias") or [""])[0] or None
        out: dict[str, tuple[str, ...]] = {
            "user": (user,),
            "hostname": (hostname,),
            "port": (str(port),),
            "identityfile": tuple(self.values.get("identityfile") or DEFAULT_IDENTITIES),
            "identitiesonly": (self.values.get("identitiesonly", ["no"])[0].lower(),),
            "addressfamily": (self.values.get("addressfamily", ["any"])[0].lower(),),
            "connecttimeout": (self.values.get("connecttimeout", ["none"])[0],),
            "globalknownhostsfile": (
                self.values.get("globalknownhostsfile", [DEFAULT_GLOBAL_KNOWN])[0],
            ),
        }
        conn = Connection(self.host_arg, hostname, port, user, alias)
        user_known = self.values.get("userknownhostsfile", [DEFAULT_USER_KNOWN])[0]
        out["userknownhostsfile"] = (
            " ".join(expand_path(f, conn, "UserKnownHostsFile") for f in user_known.split()),
        )
        if alias:
            out["hostkeyalias"] = (alias.lower(),)
        kept = ("identityagent", "bindaddress", "bindinterface", "pubkeyauthentication",
                "proxyusefdpass", "knownhostscommand", "proxycommand", "proxyjump")  # fmt: skip
        for key in kept:
            if key in self.values and self.values[key][0].lower() != "none":
                out[key] = (self.values[key][0],)
        if "identityagent" in self.values:
            out["identityagent"] = (self.values["identityagent"][0],)
        for key in ("pkcs11provider", "smartcarddevice"):
            value = self.values.get(key)
            if value and value[0].lower() != "none":
                out["pkcs11provider"] = (value[0],)
        if "certificatefile" in self.values:
            out["certificatefile"] = tuple(self.values["certificatefile"])
        if "proxyjump" in out:
            out["proxyjump"] = (_format_jump(out["proxyjump"][0], self.host_arg),)
        return out


class _BadOption(ConfigError):
    """One bad line; ssh reports the first and how many, then stops."""


def _keyword(line: str) -> tuple[str, str]:
    """Splits `Keyword value`, `Keyword=value` or `Keyword = value` (OpenSSH's strdelim)."""
    i = 0
    while i < len(line) and line[i] not in " \t=":
        i += 1
    keyword, rest = line[:i], line[i:]
    rest = rest.lstrip(" \t")
    if rest.startswith("="):
        rest = rest[1:].lstrip(" \t")
    return keyword, rest.strip(" \t")


def _seconds(text: str, where: str) -> str:
    """OpenSSH's convtime for ConnectTimeout: `none`, or a time like 90, 1m30s, 2h."""
    if text.lower() == "none":
        return "none"
    units = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    total, number = 0, ""
    for ch in text.lower():
        if ch.isdigit():
            number += ch
        elif ch in units and number:
            total += int(number) * units[ch]
            number = ""
        else:
            raise _BadOption(f"{where}: invalid time value.")
    if number:
        total += int(number)
    return str(total)


def _format_jump(spec: str, host: str) -> str:
    """ProxyJump as `ssh -G` prints it: the hops before the last as written, the last as
    `[user@]host[:port]` (an IPv6 address in brackets)."""
    hops = [h.strip() for h in spec.split(",")]
    user, name, port = parse_hop(hops[-1], host)
    last = (f"{user}@" if user else "") + (f"[{name}]" if ":" in name else name)
    last += f":{port}" if port else ""
    return ",".join([*hops[:-1], last])


def read(
    host: str,
    *,
    user: str | None = None,
    port: int | None = None,
    config_path: Path | None = None,
    jump: str | None = None,
    extra: Sequence[str] = (),
) -> dict[str, tuple[str, ...]]:
    """Returns `host`'s options as `ssh -G -F config -l user -p port -J jump -o extra host`
    would print them (for the keywords tfstudio uses). Raises ConfigError as ssh would."""
    reader = _Reader(host, user, port)
    if jump:
        # `-J` sets the jump and turns ProxyCommand off before any file is read.
        reader.line(f"ProxyJump {jump}", "command-line", {"active": True}, True, 0, False)
        reader.values["proxycommand"] = ["none"]
    for setting in extra:
        reader.line(setting, "command-line", {"active": True}, True, 0, False)

    def one_pass() -> None:
        if config_path is not None:
            if str(config_path).lower() != "none" and not reader.read_file(
                Path(config_path), user_conf=True, check_perm=False, depth=0, active=True
            ):
                raise ConfigError(f"Can't open user config file {config_path}: not found")
        else:
            reader.read_file(Path(home_dir()) / ".ssh" / "config", user_conf=True,
                             check_perm=True, depth=0, active=True)  # fmt: skip
            reader.read_file(SYSTEM_CONFIG, user_conf=False, check_perm=False, depth=0,
                             active=True)  # fmt: skip

    one_pass()
    if reader.want_final:
        host_now = reader._current_host()
        reader.final_pass = True
        reader.hostname_for_match = host_now.lower()
        reader.values.setdefault("hostname", [host_now.lower()])
        one_pass()
    return reader.result()
