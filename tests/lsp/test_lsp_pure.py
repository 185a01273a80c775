"""The LSP layer's pure helpers: settings parsing, launch.json reading, column conversion."""

from __future__ import annotations

from pathlib import Path

from gpulens.lsp.documents import line_map, split_lines
from gpulens.lsp.launch import launch_args, parse_jsonc
from gpulens.lsp.positions import byte_col_to_client, clean_text, client_col_to_byte
from gpulens.lsp.settings import Settings, effective_language, normalize_locale, parse_settings


def test_settings_defaults_and_shapes() -> None:
    assert parse_settings(None) == Settings()
    assert parse_settings("junk") == Settings()
    nested = parse_settings(
        {
            "inlayHints": {"perEpoch": False, "total": True},
            "scriptArgs": ["--epochs", 3],
            "overrides": {"dataset_size": 1200},
            "worldSize": 8,
            "language": "zh-CN",
        }
    )
    flat = parse_settings(
        {
            "gpulens.inlayHints.perEpoch": False,
            "gpulens.scriptArgs": ["--epochs", "3"],
            "gpulens.overrides": {"dataset_size": 1200},
            "gpulens.worldSize": 8.0,
            "gpulens.language": "zh-cn",
        }
    )
    assert nested == flat
    assert nested.per_epoch_hints is False and nested.total_hints is True
    assert nested.script_args == ("--epochs", "3")
    assert nested.overrides_dict == {"dataset_size": 1200}
    assert nested.world_size == 8 and nested.language == "zh-cn"
    assert parse_settings({"gpulens": {"worldSize": 2}}).world_size == 2


def test_bad_settings_fall_back_with_a_problem() -> None:
    settings = parse_settings(
        {"inlayHints": {"perEpoch": "yes"}, "worldSize": -1, "overrides": [1], "scriptArgs": 5}
    )
    assert settings.per_epoch_hints is True
    assert settings.world_size is None
    assert settings.overrides == () and settings.script_args == ()
    assert len(settings.problems) == 4
    assert parse_settings({"worldSize": None}).world_size is None
    assert parse_settings({"scriptArgs": "--epochs 3 --name 'a b'"}).script_args == (
        "--epochs",
        "3",
        "--name",
        "a b",
    )


def test_locale() -> None:
    for zh in ("zh-cn", "zh-CN", "zh", "zh_CN", "zh-Hans"):
        assert normalize_locale(zh) == "zh-cn"
    for en in ("en", "en-US", "de", "", None):
        assert normalize_locale(en) == "en"
    assert effective_language(Settings(language="auto"), "zh-CN") == "zh-cn"
    assert effective_language(Settings(language="en"), "zh-CN") == "en"


def test_jsonc() -> None:
    text = """{
      // comment with "quotes" and a , before }
      "url": "http://example.com/*not a comment*/", /* block */
      "args": ["--a=1", "b,]",],
    }"""
    assert parse_jsonc(text) == {
        "url": "http://example.com/*not a comment*/",
        "args": ["--a=1", "b,]"],
    }
    assert parse_jsonc('\ufeff{"a": "\\"//"}') == {"a": '"//'}


def test_launch_args(tmp_path: Path) -> None:
    (tmp_path / ".vscode").mkdir()
    script = tmp_path / "src" / "train.py"
    script.parent.mkdir()
    script.write_text("pass\n")
    (tmp_path / ".vscode" / "launch.json").write_text(
        """{"configurations": [
        {"name": "any", "request": "launch", "program": "${file}", "args": ["--x=${fileBasename}"]},
        {"name": "attach", "request": "attach", "program": "${workspaceFolder}/src/train.py",
         "args": ["--no"]},
        {"name": "exact", "request": "launch", "program": "src/train.py",
         "args": ["--data", "${workspaceFolder}/data", "${command:pickArgs}", "--lr", 0.1]},
        ]}"""
    )
    found = launch_args(script, [str(tmp_path)])
    assert found is not None and found.config_name == "exact"
    assert found.args == ("--data", f"{tmp_path}/data", "--lr", "0.1")
    # The answer is cached, but follows edits of launch.json (its modification time and size).
    assert launch_args(script, [str(tmp_path)]) == found
    launch = tmp_path / ".vscode" / "launch.json"
    launch.write_text(
        '{"configurations": [{"name": "new", "program": "src/train.py", "args": ["--y", "2"]}]}'
    )
    changed = launch_args(script, [str(tmp_path)])
    assert changed is not None and changed.args == ("--y", "2")
    launch.unlink()
    assert launch_args(script, [str(tmp_path)]) is None
    launch.write_text(
        """{"configurations": [
        {"name": "any", "request": "launch", "program": "${file}", "args": ["--x=${fileBasename}"]},
        ]}"""
    )
    other = tmp_path / "other.py"
    other.write_text("pass\n")
    fallback = launch_args(other, [str(tmp_path)])
    assert fallback is not None and fallback.config_name == "any"
    assert fallback.args == ("--x=other.py",)
    assert launch_args(Path("/nowhere/x.py"), []) is None


def test_columns() -> None:
    line = "x = 'é🙂' + y"
    y_byte = len("x = 'é🙂' + ".encode())
    assert byte_col_to_client(line, y_byte, "utf-16") == len("x = 'é") + 2 + len("' + ")
    assert byte_col_to_client(line, y_byte, "utf-32") == line.index("y")
    assert byte_col_to_client(line, y_byte, "utf-8") == y_byte
    assert client_col_to_byte(line, byte_col_to_client(line, y_byte, "utf-16"), "utf-16") == y_byte
    assert byte_col_to_client("abc", 99, "utf-16") == 3
    assert clean_text("a\ud800b\udcffc") == "a\ufffdb\ufffdc"
    assert clean_text("ok") == "ok"


def test_lines_and_mapping() -> None:
    assert split_lines("a\r\nb\rc\nd") == ["a", "b", "c", "d"]
    assert split_lines("a\x0cb\nc") == ["a\x0cb", "c"]  # form feed does not end a line
    old = ["a", "b", "c", "d"]
    new = ["a", "x", "y", "b", "d"]
    assert line_map(old, new) == {1: 1, 2: 4, 4: 5}


def test_line_map_on_random_edits() -> None:
    """The map (head and tail matched first, difflib in between) pairs equal lines in order, and
    keeps at least as many lines as difflib on the whole lists."""
    import difflib
    import random

    rng = random.Random(7)
    for _ in range(600):
        old = [rng.choice("abcde") for _ in range(rng.randint(0, 14))]
        new = list(old)
        for _ in range(rng.randint(0, 3)):
            at = rng.randint(0, len(new))
            op = rng.random()
            if op < 0.4:
                new.insert(at, rng.choice("abcdefg"))
            elif new and op < 0.7:
                del new[min(at, len(new) - 1)]
            elif new:
                new[min(at, len(new) - 1)] = rng.choice("xyz")
        got = line_map(old, new)
        assert all(old[a - 1] == new[b - 1] for a, b in got.items())
        keys = sorted(got)
        assert [got[k] for k in keys] == sorted(got.values())
        assert len(set(got.values())) == len(got)
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        assert len(got) >= sum(block.size for block in matcher.get_matching_blocks())


def test_lsp_lines() -> None:
    from gpulens.lsp.textsync import lsp_lines

    assert lsp_lines("a\x0cb\nc\r\nd\re") == ("a\x0cb\n", "c\r\n", "d\r", "e")
    assert lsp_lines("a\n") == ("a\n",)
    assert lsp_lines("") == ()
    assert lsp_lines("x\u2028y\n\n") == ("x\u2028y\n", "\n")
