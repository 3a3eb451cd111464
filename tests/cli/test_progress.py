"""``ophysio convert`` shows one progress for the whole conversion (every photon series), in MB and MB/s, that
ends at 100%: a bar on a terminal, plain log lines on stdout otherwise."""

import re

from ophysio.cli import main
from ophysio.cli import progress as progress_module
from ophysio.cli.progress import ConversionProgress


def test_not_a_terminal_gives_plain_lines_ending_at_100(tmp_path, capsys):
    out = tmp_path / "e.nwb"
    assert main(["convert", "--example", "scanimage", "-o", str(out)]) == 0  # two channels: two series
    captured = capsys.readouterr()
    assert captured.err == "" and "\r" not in captured.out
    lines = captured.out.splitlines()
    assert lines[-1].startswith(f"wrote {out} (2 photon series")
    steps = lines[:-1]
    assert steps and all(re.fullmatch(r"writing e\.nwb: \d+% \([\d.]+ of [\d.]+ MB, [\d.]+ MB/s\)", s) for s in steps)
    percents = [int(re.search(r": (\d+)%", s).group(1)) for s in steps]
    assert percents == sorted(percents) and percents[-1] == 100 and percents.count(100) == 1
    done, total = re.search(r"\(([\d.]+) of ([\d.]+) MB", steps[-1]).groups()
    assert done == total


def test_a_terminal_gets_one_bar_across_series(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress_module, "_is_terminal", lambda stream: True)
    assert main(["convert", "--example", "scanimage", "-o", str(tmp_path / "e.nwb")]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [line for line in captured.out.splitlines() if line.startswith("wrote ")]
    frames = [f for f in re.split(r"[\r\n]", captured.err) if f.strip()]
    assert frames and all(f.startswith("writing e.nwb:") for f in frames)  # one bar, not one per series
    assert "100%" in frames[-1] and "MB/s" in frames[-1]


def test_the_bar_counts_bytes_and_ends_at_the_total():
    lines = []

    class Out:
        def write(self, text):
            lines.append(text)

        def flush(self):
            pass

    progress = ConversionProgress("writing x.nwb", 2e5, terminal=False, out=Out())
    for done in (3, 7, 10, 15, 20):  # two series of 10 samples, called with the overall count
        progress(done, 20)
    progress.close()
    text = "".join(lines)
    assert [int(p) for p in re.findall(r": (\d+)%", text)] == [15, 35, 50, 75, 100]
    assert "(4.0 of 4.0 MB" in text


def test_convert_to_another_format_shows_the_same_progress(tmp_path, capsys):
    out = tmp_path / "e.h5"
    assert main(["convert", "--example", "scanimage", "--to", "hdf5", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "\r" not in captured.out
    lines = captured.out.splitlines()
    assert lines[-1].startswith(f"wrote {out} (hdf5, 2 channels)")
    steps = lines[:-1]
    assert steps and all(re.fullmatch(r"writing e\.h5: \d+% \([\d.]+ of [\d.]+ MB, [\d.]+ MB/s\)", s) for s in steps)
    assert int(re.search(r": (\d+)%", steps[-1]).group(1)) == 100
    done, total = re.search(r"\(([\d.]+) of ([\d.]+) MB", steps[-1]).groups()
    assert done == total
