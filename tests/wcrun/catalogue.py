"""The interop catalogue: the implementations of a matrix, read from a TOML file with Python's own tomllib.

    reference = true                 # the reference programs are in the matrix (the default)

    [[implementation]]
    name = "java"                    # [A-Za-z0-9._-], unique; "reference" is taken
    language = "Java"                # optional, shown in the matrix
    setup = "javac -d {work} {dir}/Upper.java"     # optional: run once, in the catalogue's directory
    tcp-server = "java -cp {work} TcpServer {port}"    # any of the four roles, as command templates
    tcp-client = "java -cp {work} TcpClient {host} {port}"
    udp-server = "..."
    udp-client = "..."
    ipv4-only = true                 # optional: --ipv4-only for its conformance
    notes = "..."                    # optional

In the templates {dir} is the catalogue's directory, {bin} wirecheck's programs, {build} the build directory
(where the project's faulty zoo is, in a checkout) and {work} a directory of the implementation's own inside the
run; {host} and {port} are filled in by the lab as for --*-cmd."""
import hashlib
import pathlib
import re
import tomllib

from wcrun import options, paths

ROLES = options.PARTS
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
_KEYS = {"name", "language", "setup", "notes", "ipv4-only", *ROLES}


class CatalogueError(ValueError):
    pass


def reference():
    """The reference programs as a catalogue entry (their commands are the runner's own defaults)."""
    return {"name": "reference", "language": "C", "reference": True, "notes": "wirecheck's own programs",
            "roles": {r: None for r in ROLES}}


def load(path):
    """{"path", "sha256", "implementations": [{"name", "language", "roles": {role: template}, "setup", "notes",
    "ipv4_only", "reference"}]} with the reference first unless `reference = false`. Raises CatalogueError
    naming the file, the entry and the broken rule."""
    path = pathlib.Path(path).resolve()
    raw = path.read_bytes()
    try:
        doc = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CatalogueError(f"{path}: not TOML: {e}") from None
    unknown = set(doc) - {"reference", "implementation"}
    if unknown:
        raise CatalogueError(f"{path}: unknown top-level keys {sorted(unknown)} (expected reference, [[implementation]])")
    impls = [reference()] if doc.get("reference", True) else []
    for i, e in enumerate(doc.get("implementation", []), 1):
        where = f"{path}: implementation {i}"
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not _NAME.match(e["name"]):
            raise CatalogueError(f"{where}: needs a name of 1-40 characters [A-Za-z0-9._-]")
        where += f" ({e['name']})"
        bad = set(e) - _KEYS
        if bad:
            raise CatalogueError(f"{where}: unknown keys {sorted(bad)} (expected {sorted(_KEYS)})")
        if e["name"] in {x["name"] for x in impls}:
            raise CatalogueError(f"{where}: the name {e['name']!r} is used twice")
        roles = {r: e.get(r) for r in ROLES}
        if not any(roles.values()):
            raise CatalogueError(f"{where}: gives none of the roles {', '.join(ROLES)}")
        for r, t in roles.items():
            if t is not None and (not isinstance(t, str) or "{port}" not in t):
                raise CatalogueError(f"{where}: {r} must be a command template with {{port}}")
        impls.append({"name": e["name"], "language": e.get("language", ""), "reference": False,
                      "roles": roles, "setup": e.get("setup"), "notes": e.get("notes", ""),
                      "ipv4_only": bool(e.get("ipv4-only", False))})
    if not impls:
        raise CatalogueError(f"{path}: no implementation (and reference = false)")
    return {"path": str(path), "sha256": hashlib.sha256(raw).hexdigest(), "implementations": impls}


def expand(template, cat, work):
    """A template with {dir}, {bin}, {build} and {work} filled in ({host} and {port} stay for the lab)."""
    if template is None:
        return None
    vals = {"dir": str(pathlib.Path(cat["path"]).parent), "bin": str(paths.bin_dir()),
            "build": str(paths.bin_dir().parent), "work": str(work)}
    return re.sub(r"\{(dir|bin|build|work)\}", lambda m: vals[m.group(1)], template)


def has(impl, role):
    return impl["reference"] or bool(impl["roles"].get(role))
