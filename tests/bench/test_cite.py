"""``bench cite``: one entry per key, every cited task's data and method's paper, strict BibTeX.

Real records in a temporary results directory, ``bench cite`` run in process, and its output parsed
by pybtex in strict mode and by bibtexparser 2: both must accept it with no duplicate key.
"""

from __future__ import annotations

from pathlib import Path

import bibtexparser
import pybtex.database
import pybtex.errors
import pytest
from bibtexparser.model import DuplicateBlockKeyBlock
from conftest import make_plugin_site
from pybtex.database.input.bibtex import Parser  # pybtex.database.parse_string looks its plugins up: 0.4 s a call
from record_factory import make_record

from bench.bibtex import Bibliography, BibTeXError, parse_entries
from bench.cli import main
from bench.registry import Registry
from bench.store import ResultStore

DATA_KEYS = {
    "vision/SynthDigits-v0": {"alpaydin1998optdigits"},
    "vision/Digits-v0": {"alpaydin1998optdigits", "deng2009imagenet"},
    "vision/FashionMNIST-v0": {"xiao2017fashion", "deng2009imagenet"},
    "vision/MNIST-v0": {"lecun1998gradient", "raschka2018mlxtend", "deng2009imagenet"},
    "vision/Flowers102-v0": {"nilsback2008automated", "deng2009imagenet"},
    "vision/Pets-v0": {"parkhi2012cats", "deng2009imagenet"},
    "vision/DTD-v0": {"cimpoi2014describing", "deng2009imagenet"},
    "vision/EuroSAT-v0": {"helber2019eurosat", "deng2009imagenet"},
    "vision/CIFAR10-v0": {"krizhevsky2009learning", "deng2009imagenet"},
    "vision/Beans-v0": {"makerere2020beans", "deng2009imagenet"},
    "crosslingual/CLDRNames-v0": {"unicode_cldr"},
    "crosslingual/SynthNLI-v0": {"k2020crosslingual", "dufter2020identifying"},  # generated here, after these
    "crosslingual/XNLI-v0": {"conneau2018xnli", "williams2018broad"},
    "sim2real/PendulumCombined-v1": {"coumans2021pybullet"},
    "sim2real/HalfCheetahCombined-v0": {"coumans2021pybullet", "rl-zoo3"},
}
"""The data each first-party task is built on, by BibTeX key (a subset of what it cites)."""


@pytest.fixture(autouse=True)
def strict_pybtex():
    """pybtex raises on every problem (a repeated key, a bad name) instead of warning."""
    before = pybtex.errors.strict
    pybtex.errors.set_strict_mode(True)
    yield
    pybtex.errors.set_strict_mode(before)


def write_records(root: Path, runs: list[tuple[str, str]], **provenance: object) -> Path:
    store = ResultStore(root)
    for task, method in runs:
        r = make_record(task=task, method=method, role="scratch" if method == "scratch" else "transfer")
        if provenance:
            r = r.model_copy(update={"provenance": r.provenance.model_copy(update=provenance)})
        store.write(r)
    return root


def cite(capsys: pytest.CaptureFixture[str], results: Path, *flags: str) -> tuple[str, str]:
    capsys.readouterr()
    assert main(["cite", "--results-dir", str(results), *flags]) == 0
    out, err = capsys.readouterr()
    return out, err


def parse_strictly(text: str) -> list[str]:
    """The keys of ``text``, in order, after both parsers accepted it whole; fails on any duplicate."""
    data = pybtex.database.parse_string(text, "bibtex")  # strict: a repeated key or bad name raises
    lib = bibtexparser.parse_string(text)
    assert not lib.failed_blocks, [type(b).__name__ for b in lib.failed_blocks]
    assert not [b for b in lib.blocks if isinstance(b, DuplicateBlockKeyBlock)]
    keys = [e.key for e in lib.entries]
    assert len({k.lower() for k in keys}) == len(keys), "duplicate keys"
    assert sorted(k.lower() for k in data.entries) == sorted(k.lower() for k in keys)
    return keys


def citation_keys(citation: str) -> set[str]:
    """Keys of one spec's citation, read by pybtex strictly (not by the code under test)."""
    return set(Parser().parse_string(citation).entries)


def test_every_installed_task_and_method_cited_once_each(tmp_path, capsys):
    reg = Registry.discover()
    runs = [(tid, m) for tid, spec in reg.tasks.items() for m in reg.task_methods(spec)]
    assert {m for _, m in runs} == set(reg.methods)  # every method is used by some task
    out, err = cite(capsys, write_records(tmp_path / "res", runs,
                                          hardware={"cpu": "Intel(R) Xeon(R) CPU @ 2.20GHz", "cpu_cores": 2}))
    keys = parse_strictly(out)
    assert "warning" not in err, err
    assert keys[0] == "transferbench" and "@misc{transferbench" in out and "@software" not in out
    for tid, spec in reg.tasks.items():
        cited = citation_keys(spec.citation) if spec.citation else set()
        assert cited <= set(keys), tid
        assert DATA_KEYS.get(tid, set()) <= cited, tid
        assert f"% task {tid}:" in out
    for name, m in reg.methods.items():
        if m.citation:
            assert citation_keys(m.citation) <= set(keys), name
    assert "% hardware: Intel(R) Xeon(R) CPU (at) 2.20GHz x2" in out  # provenance kept, its '@' defused


def test_real_vision_tasks_cite_their_hub_dataset():
    from tasks.vision.hubdata import HUB_DATASETS

    reg = Registry.discover()
    for key, ds in HUB_DATASETS.items():
        spec = next(s for s in reg.tasks.values() if s.options.get("dataset") == key and "vision-real" in s.suites)
        assert citation_keys(ds.citation) <= citation_keys(spec.citation or ""), spec.id


def test_quick_suite_cites_the_data_of_every_task_run_and_nothing_else(tmp_path, capsys):
    reg = Registry.discover()
    quick = reg.suite("quick")
    runs = [(tid, m) for tid in quick for m in reg.task_methods(reg.task(tid))]
    out, err = cite(capsys, write_records(tmp_path / "res", runs))
    keys = set(parse_strictly(out))
    assert "warning" not in err, err
    for tid in quick:
        assert DATA_KEYS[tid] <= keys, tid
        assert citation_keys(reg.task(tid).citation or "") <= keys, tid
    others = [tid for tid in reg.tasks if tid not in quick]
    assert others
    for tid in others:
        assert f"% task {tid}:" not in out
    # a task outside the records: the hub sets' papers and rl-zoo are cited by no quick task
    assert not keys & {"nilsback2008automated", "makerere2020beans", "rl-zoo3", "williams2018broad"}


def test_cites_only_the_tasks_and_methods_in_the_records(tmp_path, capsys):
    out, _ = cite(capsys, write_records(tmp_path / "res", [("vision/Digits-v0", "scratch"),
                                                           ("vision/Digits-v0", "lora"),
                                                           ("vision/MNIST-v0", "fine-tune")]))
    keys = parse_strictly(out)
    assert keys == ["transferbench", "alpaydin1998optdigits", "deng2009imagenet", "tan2019efficientnet",
                    "lecun1998gradient", "raschka2018mlxtend", "yosinski2014transferable", "hu2022lora"]
    assert "% task vision/MNIST-v0: lecun1998gradient, raschka2018mlxtend, deng2009imagenet, tan2019efficientnet" in out
    assert "% records: 3 runs, tasks: vision/Digits-v0, vision/MNIST-v0" in out


def test_biblatex_gives_software(tmp_path, capsys):
    results = write_records(tmp_path / "res", [("vision/Digits-v0", "scratch")])
    out, _ = cite(capsys, results, "--biblatex")
    lib = bibtexparser.parse_string(out)
    assert not lib.failed_blocks
    own = lib.entries_dict["transferbench"]
    assert own.entry_type == "software" and "version" in own.fields_dict
    parse_strictly(out)
    plain, _ = cite(capsys, results)
    own = bibtexparser.parse_string(plain).entries_dict["transferbench"]
    assert own.entry_type == "misc" and "version" not in own.fields_dict and "Version " in own["note"]


def test_unknown_task_in_records_is_a_comment(tmp_path, capsys):
    out, err = cite(capsys, write_records(tmp_path / "res", [("gone/Missing-v0", "gone-method")]))
    assert parse_strictly(out) == ["transferbench"]
    assert "% task gone/Missing-v0: not installed" in out and "% method gone-method: not installed" in out


PLUGIN = '''
from bench.api import MethodSpec, Reference, TaskSpec

OTHER_EFFICIENTNET = """@inproceedings{tan2019efficientnet,
  title={EfficientNet, as another paper},
  author={Someone, Else},
  booktitle={Elsewhere},
  year={2019}
}"""
OWN = """@article{plugin2026data,
  title={The plugin's data},
  author={Doe, Jane and Roe, Richard},
  journal={Journal of Plugins},
  year={2026}
}"""
SAME_DIGITS = """@misc{alpaydin1998optdigits, author={Alpaydin, E. and Kaynak, C.},
  title={Optical Recognition of Handwritten Digits}, year={1998}, howpublished={UCI Machine Learning Repository},
  doi={10.24432/C50P49},
  url={https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits}}"""

def _task(name, citation, references=()):
    return TaskSpec(id=f"citeplug/{name}-v0", entry_point="citeplug:Nothing", summary="s", source="s", target="t",
                    metric="m", budgets=(1,), default_budget=1, methods=("scratch", "plug-method"),
                    suites=("citeplug",), citation=citation, references=references)

TASKS = [
    _task("Conflict", OTHER_EFFICIENTNET + "\\n\\n" + OWN + "\\n" + SAME_DIGITS,
          references=(Reference("plug-method", 0.5, "Some plain-text source, 2020"),
                      Reference("plug-method", 0.6, "@misc{plugin2026ref, title={A published number}, year={2026}}"))),
    _task("Broken", "@article{broken2026, title={Unclosed, year={2026}\\n"),
    _task("Names", "@article{names2026, author={A, B, C, D}, title={T}, year={2026}}"),
    _task("Plain", "Doe et al. 2026, not BibTeX"),
    _task("Typed", 2026),
]
METHODS = [MethodSpec("plug-method", "transfer", "A plugin's method.",
                      citation="@misc{plugmethod2026, title={T}, title={T again}}")]
'''


@pytest.fixture
def cite_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = make_plugin_site(tmp_path / "site", "citeplug_dist",
                            {"transferbench.tasks": {"citeplug": "citeplug:TASKS"},
                             "transferbench.methods": {"citeplug": "citeplug:METHODS"}},
                            {"citeplug": PLUGIN})
    monkeypatch.syspath_prepend(str(site))
    return site


def test_plugin_conflicts_and_malformed_citations_are_one_warning_each(cite_plugin, tmp_path, capsys):
    runs = [("vision/Digits-v0", "scratch"), *[(f"citeplug/{n}-v0", "plug-method")
                                               for n in ("Conflict", "Broken", "Names", "Plain", "Typed")]]
    out, err = cite(capsys, write_records(tmp_path / "res", runs))
    keys = parse_strictly(out)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    conflict = [line for line in lines if "tan2019efficientnet" in line]
    # tasks are cited in the order of their ids: the plugin's task comes first, so its entry is kept
    assert conflict == ["bench: warning: BibTeX key 'tan2019efficientnet' is given by task citeplug/Conflict-v0 and, "
                        "with other content, by task vision/Digits-v0; the first is kept"]
    for who in ("task citeplug/Broken-v0", "task citeplug/Names-v0", "task citeplug/Plain-v0",
                "method plug-method"):
        assert sum(line.startswith(f"bench: warning: {who}: its citation is not valid BibTeX") for line in lines) == 1
    assert lines.count("bench: warning: task citeplug/Typed-v0: its citation is not a string (int); not cited") == 1
    assert len(lines) == 6, lines
    # the first EfficientNet kept, the plugin's own entries cited, the same optdigits entry (other layout) once
    assert "as another paper" in out and "EfficientNet: Rethinking Model Scaling" not in out
    assert {"plugin2026data", "plugin2026ref"} <= set(keys)
    assert keys.count("alpaydin1998optdigits") == 1
    assert not {"broken2026", "names2026", "plugmethod2026"} & set(keys)
    assert ("% task citeplug/Conflict-v0: tan2019efficientnet, plugin2026data, alpaydin1998optdigits, plugin2026ref"
            in out)


# --- the parser ---------------------------------------------------------------------------------

MALFORMED = {
    "@article{x, title={A}": "found the end of the text",
    "@article{x, title={A": "'}' missing",
    "@article{x, title={A}, title={B}}": "twice",
    "@article{x, author={A, B, C, D}}": "more than two commas",
    "@article{x, month=foo}": "undefined macro",
    "@article{x, title={A}}\n@misc{X, title={B}}": "appears twice",
    "@article{a b, title={A}}": "',' or '}' after the key",
    '@misc{x, title="A {b"}': '\'"\' missing',
    "@misc(x)": "',' after the key",
}
"""Citations pybtex in strict mode rejects too, and the error each must raise."""
STRICTER = {
    "@article{x, title={A}}}": "text outside any entry",
    "article{x, title={A}}": "text outside any entry",
    "Doe et al. 2026": "text outside any entry",
    "@string{foo = {bar}}\n@misc{x, title=foo}": "@string is not supported",
    "": "no BibTeX entry",
    "@misc\n{x, title={A}}": "on the line of @misc",
    "@ misc{x, title={A}}": "right after '@'",
    "@commentary{x, title={A}}": "starts with 'comment'",
    "@misc{x, title={A\\}}}": "backslash before a brace",
}
"""Citations a reader would partly skip in silence (a stray brace, an entry without its ``@``), or that
pybtex and bibtexparser read differently (a line break after the type, an escaped brace): refused too."""


@pytest.mark.parametrize("text", list(MALFORMED))
def test_parser_rejects_what_a_strict_reader_rejects(text):
    with pytest.raises(BibTeXError, match=MALFORMED[text]):
        parse_entries(text)
    with pytest.raises(Exception):  # noqa: B017 - pybtex raises several kinds
        pybtex.database.parse_string(text, "bibtex")


@pytest.mark.parametrize("text", list(STRICTER))
def test_parser_rejects_text_a_reader_would_skip(text):
    with pytest.raises(BibTeXError, match=STRICTER[text]):
        parse_entries(text)


def test_parser_splits_entries_and_keeps_their_text():
    text = ("% a comment\n@Article{a1, author = {Doe, J. and {Big Org}}, title = \"T {x}\" # {y}, month = jan,\n"
            "  year = 2020,}\n\n@comment{ignored}\n@misc(b-2:x, note={a@b {c}})\n")
    entries = parse_entries(text)
    assert [(e.type, e.key) for e in entries] == [("article", "a1"), ("misc", "b-2:x")]
    assert entries[0].fields == (("author", "{Doe, J. and {Big Org}}"), ("title", '"T {x}" # {y}'),
                                 ("month", "jan"), ("year", "2020"))
    assert entries[1].text == "@misc(b-2:x, note={a@b {c}})"
    assert list(pybtex.database.parse_string("\n".join(e.text for e in entries), "bibtex").entries) == ["a1", "b-2:x"]


def test_bibliography_merges_by_key_up_to_white_space():
    bib = Bibliography()
    a = parse_entries("@misc{k, title={A  B}, year={1}}")
    assert bib.add(a, "one") == a
    assert bib.add(parse_entries("@misc{k,\n  year={1},\n  title={A\n B}}"), "two") == []
    assert bib.conflicts == []
    assert bib.add(parse_entries("@misc{K, title={A B}, year={1}}"), "three") == []  # keys compare case-insensitively
    assert bib.add(parse_entries("@misc{k, title={C}}"), "four") == []
    assert [(c.key, c.first, c.source) for c in bib.conflicts] == [("k", "one", "three"), ("k", "one", "four")]
    assert "K" in bib


def test_what_the_parser_accepts_both_strict_readers_accept():
    """Seeded mutations of valid entries: each is refused with a BibTeXError, or read alike by all three."""
    import random

    rng = random.Random(0)
    base = "@misc{k1, title={A}, author={B and C, D}, month=jan}\n@article(k2, year=2020, note=\"x {y}\" # {z})"
    pieces = ["@", "misc", "comment", "{", "}", "(", ")", ",", "=", '"', "#", " ", "\n", "k1", "K1", "title", "author",
              " and ", "A, B,", "jan", "foo", "2020", "%", "\\", "'"]
    accepted = 0
    for _ in range(1500):
        chars = list(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(chars) + 1)
            if rng.random() < 0.4 and at < len(chars):
                del chars[at]
            else:
                chars.insert(at, rng.choice(pieces))
        text = "".join(chars)
        try:
            entries = parse_entries(text)
        except BibTeXError:
            continue
        accepted += 1
        out = "\n".join(e.text for e in entries)
        assert len(Parser().parse_string(out).entries) == len(entries), text
        lib = bibtexparser.parse_string(out)
        assert not lib.failed_blocks and [e.key for e in lib.entries] == [e.key for e in entries], text
    assert accepted > 100
