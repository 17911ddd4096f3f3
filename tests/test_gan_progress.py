"""The progress bar: its text, and silence when not on a terminal."""

import io

from minigan.gan import progress


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_durations_and_rates_read_well():
    assert progress.format_duration(7) == "0:07"
    assert progress.format_duration(3725) == "1:02:05"
    assert progress.format_rate(2.5) == "2.50 s/step"
    assert progress.format_rate(0.02) == "50.0 steps/s"
    assert progress.format_rate(None) == "? s/step"


def test_render_fits_the_width_and_shows_count_and_eta():
    bar = progress.ProgressBar(200, "epoch 1/5", stream=io.StringIO())
    for _ in range(50):
        bar.update()
    text = bar.render(width=80)
    assert len(text) <= 80 and text.startswith("epoch 1/5 |") and " 50/200 [" in text
    assert "<" in text and ("s/step" in text or "steps/s" in text)
    filled = text.count("#")
    assert abs(filled / (filled + text.count("-")) - 0.25) < 0.05


def test_silent_when_not_a_terminal_but_log_lines_pass():
    stream, lines = io.StringIO(), []
    bar = progress.ProgressBar(10, "epoch 1/1", stream=stream, echo=lines.append)
    for _ in range(10):
        bar.update()
    bar.write("a log line")
    bar.close()
    assert stream.getvalue() == "" and lines == ["a log line"]


def test_on_a_terminal_log_lines_appear_above_the_bar():
    stream = FakeTerminal()
    bar = progress.ProgressBar(4, "epoch 1/1", stream=stream)
    bar.update()
    bar.write("loss_D 1.0")
    out = stream.getvalue()
    assert out.startswith("\repoch 1/1 |") and "\r\x1b[2Kloss_D 1.0\n\repoch 1/1 |" in out
    bar.close()
    assert stream.getvalue().endswith("\r\x1b[2K")
