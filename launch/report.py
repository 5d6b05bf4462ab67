#!/usr/bin/python3
"""report: charts and a web page for one or more training runs.

    report RUN_DIR [RUN_DIR ...] --out DIR [--log-scale]

Reads each run folder's metrics.jsonl (and config.toml and samples.txt when they exist) and writes
to DIR: PNG charts of the losses against steps and against tokens, the learning rate, the grad
norm, tokens/s and MFU (several runs overlaid), data.json with the exact series that were plotted,
and index.html showing the charts, each run's config and its latest sample. It replaces or deletes
only files it wrote there itself (recorded in DIR/.report-files.json); a user's file with one of
its names stops it with exit 2.

Exit codes, as the other tools: 0 done; 2 bad input (one `error:` line naming the path);
1 internal failure. The CMake build copies this file to build/launch/report with the first line
naming the interpreter that has matplotlib.
"""

import argparse
import datetime
import hashlib
import html
import io
import json
import math
import os
import re
import sys
import tempfile

try:
    import tomllib  # Python 3.11+; Debian 12's /usr/bin/python3 is 3.11
    import matplotlib

    matplotlib.use("Agg")  # no display on clusters and CI machines
    import matplotlib.pyplot as plt
    import matplotlib.ticker
except ImportError:
    print("error: report needs matplotlib (apt-get install python3-matplotlib)", file=sys.stderr)
    sys.exit(1)

# Keys of metrics.jsonl that are plotted, and how each chart is labelled.
# (file stem, metric key, title, y label); the loss charts are made separately.
METRIC_CHARTS = [
    ("lr", "lr", "Learning rate", "learning rate"),
    ("grad_norm", "grad_norm", "Gradient norm (before clipping)", "global grad norm"),
    ("tokens_per_s", "tokens_per_s", "Throughput", "tokens/s"),
    ("mfu", "mfu", "Model FLOPs utilisation", "MFU (%)"),
]
SERIES_KEYS = ["loss", "val_loss", "lr", "grad_norm", "ms", "tokens_per_s", "comm_ms", "mfu"]
SAMPLE_HEADER = re.compile(r"^--- step (\d+) ---$", re.MULTILINE)


class BadInput(Exception):
    """Input the user can fix: reported as one `error:` line and exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but its complaints are one `error:` line and exit 2 like the other tools."""

    def error(self, message):
        raise BadInput(f"{message} (usage: report RUN_DIR [RUN_DIR ...] --out DIR [--log-scale])")


def parse_args(argv):
    parser = Parser(prog="report", description="Charts and a web page for training runs.")
    parser.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run folders (each with metrics.jsonl)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the charts, data.json and index.html")
    parser.add_argument("--log-scale", action="store_true", help="logarithmic loss axes")
    args = parser.parse_intermixed_args(argv)  # options may come between run folders
    if not args.runs:
        raise BadInput("no run folders given (usage: report RUN_DIR [RUN_DIR ...] --out DIR)")
    return args


def warn(message):
    print(f"warning: {message}", file=sys.stderr)


def read_text(path):
    # Replacement characters rather than a failure: a sample may end mid-character while being written.
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def read_metrics(path):
    """The records of metrics.jsonl by step, sorted; the later record of a step wins.

    A run being written may end in a partial line: it is skipped and said so in one stderr line.
    A step twice is what a run that crashed after its last checkpoint and was resumed by an older
    binary leaves: the later record is the one that training continued from.
    """
    text = read_text(path)
    lines = text.split("\n")
    # A file ending in "\n" splits into a last empty string; one that does not ends in a partial line.
    last_complete = text.endswith("\n")
    by_step = {}
    partial = False
    bad_lines = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        is_last = number == len(lines)
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if is_last and not last_complete:
                partial = True
            else:
                bad_lines.append(number)
            continue
        step = record.get("step") if isinstance(record, dict) else None
        if not isinstance(step, int) or isinstance(step, bool):
            bad_lines.append(number)
            continue
        by_step.pop(step, None)  # the later record replaces the earlier one whole
        by_step[step] = record
    if partial:
        print(f"note: {path}: skipped a partial last line (line {len(lines)}; the run is still being written?)",
              file=sys.stderr)
    if bad_lines:
        shown = ", ".join(str(n) for n in bad_lines[:5]) + (" ..." if len(bad_lines) > 5 else "")
        warn(f"{path}: skipped {len(bad_lines)} line(s) that are not step records (line {shown})")
    return [by_step[s] for s in sorted(by_step)]


def read_config(run_dir):
    """config.toml's text (shown verbatim) and train.batch_tokens (for the tokens axis), each possibly None."""
    path = os.path.join(run_dir, "config.toml")
    if not os.path.isfile(path):
        return None, None
    text = read_text(path)
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        warn(f"{path}: cannot parse ({e}); shown as it is, and tokens come only from metrics.jsonl")
        return text, None
    batch_tokens = config.get("train", {}).get("batch_tokens")
    if not isinstance(batch_tokens, int) or isinstance(batch_tokens, bool) or batch_tokens <= 0:
        batch_tokens = None
    return text, batch_tokens


def latest_sample(run_dir):
    """(step, text) of samples.txt's last entry, or None. Entries are `--- step N ---\\n<text>\\n`."""
    path = os.path.join(run_dir, "samples.txt")
    if not os.path.isfile(path):
        return None
    text = read_text(path)
    headers = list(SAMPLE_HEADER.finditer(text))
    if not headers:
        return None
    last = headers[-1]
    return int(last.group(1)), text[last.end() + 1:].rstrip("\n")


def tokens_at(record, batch_tokens):
    """Tokens trained through a record's step: its own `tokens`, else step x train.batch_tokens."""
    tokens = record.get("tokens")
    if isinstance(tokens, (int, float)) and not isinstance(tokens, bool):
        return tokens
    if record["step"] == 0:  # the evaluation before training
        return 0
    if batch_tokens is None:
        return None
    return record["step"] * batch_tokens


def drop_reason(value):
    """Why a metric's value is not plotted: "NaN", "inf", "-inf", "null", "not a number"; None if it is."""
    if value is None:
        return "null"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "not a number"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return None


# The reasons that mean the run diverged; null is how the trainer (nlohmann::json) writes NaN and inf.
NON_FINITE = ("NaN", "inf", "-inf", "null")


def build_series(records, batch_tokens):
    """Per metric: the steps, tokens and values of the records that have it (only finite numbers).

    Also the points left out, [{"key", "reason", "steps"}] (a metric absent from a record is not one),
    and per metric its first non-finite point, {key: {"step", "tokens", "reason"}}: where a run diverged.
    """
    series, dropped, non_finite = {}, [], {}
    for key in SERIES_KEYS:
        steps, tokens, values = [], [], []
        dropped_steps = {}  # reason -> steps, in the order met
        for r in records:
            if key not in r:
                continue
            v = r[key]
            reason = drop_reason(v)
            if reason is None:
                steps.append(r["step"])
                tokens.append(tokens_at(r, batch_tokens))
                values.append(v)
                continue
            dropped_steps.setdefault(reason, []).append(r["step"])
            if reason in NON_FINITE and key not in non_finite:
                non_finite[key] = {"step": r["step"], "tokens": tokens_at(r, batch_tokens), "reason": reason}
        if steps:
            series[key] = {"steps": steps, "tokens": tokens, "values": values}
        dropped += [{"key": key, "reason": reason, "steps": s} for reason, s in dropped_steps.items()]
    return series, dropped, non_finite


def dropped_text(d):
    """`3 points dropped (loss is NaN at steps 40, 41, 42)`: one warning line and page note per run and reason."""
    n = len(d["steps"])
    shown = ", ".join(str(s) for s in d["steps"][:5]) + (" ..." if n > 5 else "")
    return (f"{n} point{'s' if n > 1 else ''} dropped "
            f"({d['key']} is {d['reason']} at step{'s' if n > 1 else ''} {shown})")


def run_labels(run_dirs):
    """Each run's folder name; where names clash, enough of the path to tell them apart."""
    paths = [os.path.realpath(d) for d in run_dirs]
    parts = [p.split(os.sep)[1:] for p in paths]
    labels = []
    for i, p in enumerate(parts):
        depth = 1
        # Other folders whose last `depth` names are the same; the same folder twice is numbered below.
        while depth < len(p) and any(q[-depth:] == p[-depth:] and q != p for q in parts):
            depth += 1
        labels.append("/".join(p[-depth:]) or "/")
    # The same folder given twice: number the repeats.
    seen = {}
    for i, label in enumerate(labels):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            labels[i] = f"{label} ({seen[label]})"
    return labels


def load_run(run_dir, label):
    metrics = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isdir(run_dir):
        raise BadInput(f"{run_dir}: not a folder")
    if not os.path.isfile(metrics):
        raise BadInput(f"{metrics}: no such file (is {run_dir} a run folder?)")
    try:
        records = read_metrics(metrics)
        config_text, batch_tokens = read_config(run_dir)
        sample = latest_sample(run_dir)
    except OSError as e:
        raise BadInput(f"{e.filename or run_dir}: cannot read ({e.strerror})")
    series, dropped, non_finite = build_series(records, batch_tokens)
    for d in dropped:
        warn(f"{metrics}: {dropped_text(d)}")
    no_records = None
    if not records:
        no_records = "the file is empty" if os.path.getsize(metrics) == 0 else "no complete step record"
    return {
        "label": label,
        "metrics": metrics,
        "no_records": no_records,
        "dir": os.path.abspath(run_dir),
        "records": records,
        "batch_tokens": batch_tokens,
        "config": config_text,
        "sample": sample,
        "series": series,
        "dropped": dropped,
        "non_finite": non_finite,
    }


def check_records(runs):
    """A run without records is on the page with a warning; when no run has any, there is nothing to chart."""
    empty = [run for run in runs if run["no_records"]]
    if len(empty) == len(runs):
        raise BadInput(", ".join(f"{run['metrics']} ({run['no_records']})" for run in runs)
                       + ": no step records; nothing to chart (has the run logged its first step?)")
    for run in empty:
        warn(f"{run['metrics']}: no step records ({run['no_records']}); the run is on the page without data")


# In --out, report's record of the files it wrote there and their SHA-256: it replaces or deletes
# only those, unchanged, so a user's file that has one of its names is never lost.
RECORD = ".report-files.json"


def output_files():
    return chart_files() + ["data.json", "index.html"]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def file_sha256(path):
    with open(path, "rb") as f:
        return sha256(f.read())


def write_file_atomically(path, data):
    """`data` as the file at `path`, whole or not at all, the recipe of the C++ tools' AtomicFile
    (core/files/atomic_file.h): a temporary PATH.tmp-PID in the same folder, fsync'd, renamed over
    PATH, then the folder fsync'd so the rename is on disk too. A browser reloading the page never
    sees half of a file, nor does a crash leave one."""
    folder = os.path.dirname(path) or "."
    tmp = f"{path}.tmp-{os.getpid()}"
    if os.path.lexists(tmp):
        os.unlink(tmp)  # a leftover of an earlier process with our pid
    # 0666 less the umask, as open() gives: a web server serving the page must read it.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class OutFolder:
    """--out: writes and removes files, keeping RECORD up to date after each."""

    def __init__(self, path, written):
        self.path = path
        self.written = written  # name -> SHA-256 of what report wrote

    def write(self, name, data):
        write_file_atomically(os.path.join(self.path, name), data)
        self.written[name] = sha256(data)
        self.save_record()

    def remove(self, name):
        """Removes a file of an earlier report (prepare_out checked it is unchanged)."""
        path = os.path.join(self.path, name)
        if name in self.written and os.path.isfile(path):
            os.remove(path)
            del self.written[name]
            self.save_record()

    def save_record(self):
        record = {"written_by": "report", "files": self.written}
        write_file_atomically(os.path.join(self.path, RECORD), (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())


def read_record(out):
    """{name: SHA-256} of the files an earlier report wrote in `out`; {} where none did."""
    path = os.path.join(out, RECORD)
    if not os.path.lexists(path):
        return {}
    try:
        record = json.loads(read_text(path))
    except ValueError:
        record = None
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror})")
    files = record.get("files") if isinstance(record, dict) and record.get("written_by") == "report" else None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise BadInput(f"{path}: not report's record of its files, so report leaves this folder alone; "
                       "choose another --out")
    return files


def prepare_out(out):
    """Make --out, prove it writable and check that the files report would replace or delete there are
    its own, unchanged, before any work: a bad path or a user's file fails fast with exit 2."""
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".report-probe-"):
            pass
    except OSError as e:
        raise BadInput(f"{out}: cannot write there ({e.strerror})")
    written = read_record(out)
    for name in output_files():
        path = os.path.join(out, name)
        if not os.path.lexists(path):
            continue
        try:
            own = os.path.isfile(path) and not os.path.islink(path) and name in written and \
                file_sha256(path) == written[name]
        except OSError as e:
            raise BadInput(f"{path}: cannot read ({e.strerror})")
        if not own:
            why = "changed since report wrote it" if name in written else "not written by report"
            raise BadInput(f"{path}: {why}; report replaces or deletes only its own files in --out "
                           f"(listed in {RECORD}): move it away, or choose another --out")
    return OutFolder(out, written)


def new_figure(title, xlabel, ylabel):
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def save_figure(fig, ax, out, name):
    """Writes the chart; returns its axes' scales as drawn (data.json records them)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    out.write(name, png.getvalue())
    scales = {"x": ax.get_xscale(), "y": ax.get_yscale()}
    plt.close(fig)
    return scales


def run_colours(runs):
    # One colour per run on every chart, so a run is recognised across charts.
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {run["label"]: cycle[i % len(cycle)] for i, run in enumerate(runs)}


def loss_chart(runs, colours, axis, log_scale, out, name):
    """Train (solid) and val (dashed, dots) loss of every run against steps or tokens; None if none."""
    fig, ax = new_figure(f"Loss against {axis}", axis, "loss (log scale)" if log_scale else "loss")
    drawn = False
    for run in runs:
        for key, style, kind in (("loss", {"linestyle": "-"}, "train"),
                                 ("val_loss", {"linestyle": "--", "marker": "o", "markersize": 3}, "val")):
            s = run["series"].get(key)
            if not s:
                continue
            points = [(x, v) for x, v in zip(s[axis], s["values"]) if x is not None and (v > 0 or not log_scale)]
            if not points:
                continue
            xs, ys = zip(*points)
            label = f"{run['label']} {kind}"
            diverged = run["non_finite"].get(key)
            if diverged:
                label += f" ({diverged['reason']} from step {diverged['step']})"
            ax.plot(xs, ys, color=colours[run["label"]], label=label, **style)
            drawn = True
            if diverged:
                x = diverged["step"] if axis == "steps" else diverged["tokens"]
                if x is not None:  # no token count: no mark on the tokens chart
                    mark_divergence(ax, x, points, colours[run["label"]])
    if log_scale and drawn:
        ax.set_yscale("log")
        # Plain numbers: a loss spans less than a decade, where the default labels read "1.05x10^1".
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
    if not drawn:
        plt.close(fig)
        return None
    return save_figure(fig, ax, out, name)


def mark_divergence(ax, x, points, colour):
    """Where a loss became non-finite: a dotted vertical line, and a cross at the last finite value before it."""
    ax.axvline(x, color=colour, linestyle=":", linewidth=1.5)
    before = [v for px, v in points if px <= x]
    ax.plot([x], [before[-1] if before else points[0][1]], color=colour, marker="X", markersize=10,
            linestyle="none")


def metric_chart(runs, colours, key, title, ylabel, out, name):
    """One metric of every run that has it against steps; None when no run has it."""
    fig, ax = new_figure(title, "step", ylabel)
    drawn = False
    for run in runs:
        s = run["series"].get(key)
        if not s:
            continue
        ys = [v * 100 for v in s["values"]] if key == "mfu" else s["values"]  # a fraction, shown in percent
        ax.plot(s["steps"], ys, color=colours[run["label"]], label=run["label"],
                marker="o" if len(ys) < 30 else None, markersize=3)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    return save_figure(fig, ax, out, name)


def chart_files():
    return ["loss_steps.png", "loss_tokens.png"] + [f"{stem}.png" for stem, _, _, _ in METRIC_CHARTS]


def has_tokens(run):
    """Whether every loss point of the run has a token count (from metrics.jsonl or train.batch_tokens)."""
    return all(None not in run["series"][key]["tokens"] for key in ("loss", "val_loss") if key in run["series"])


def make_charts(runs, out, log_scale):
    """Writes the charts; returns [(file, title, scales)] of those made and [notes] about those left out."""
    colours = run_colours(runs)
    made, notes = [], []
    for axis in ("steps", "tokens"):
        name = f"loss_{axis}.png"
        title = f"Train and val loss against {axis}"
        scales = loss_chart(runs, colours, axis, log_scale, out, name)
        if scales:
            made.append((name, title, scales))
        else:
            why = "no run has loss or val_loss"
            if axis == "tokens":
                why += " with a token count (no `tokens` in metrics.jsonl and no train.batch_tokens in config.toml)"
            notes.append(f"No chart of the loss against {axis}: {why}.")
    for stem, key, title, ylabel in METRIC_CHARTS:
        name = f"{stem}.png"
        scales = metric_chart(runs, colours, key, title, ylabel, out, name)
        if scales:
            made.append((name, title, scales))
        else:
            notes.append(f"No {title[0].lower() + title[1:]} chart: no run recorded `{key}`.")
    # A chart of an earlier report in the same folder that this one has not made would be shown as current.
    for name in chart_files():
        if name not in [m[0] for m in made]:
            out.remove(name)
    # Runs missing from charts that others have, so an absent line is explained, not puzzling.
    for run in runs:
        if run["no_records"]:  # rather than a list of every metric it lacks
            notes.append(f"{run['label']}: no step records in metrics.jsonl ({run['no_records']}).")
            continue
        missing = [key for _, key, _, _ in METRIC_CHARTS
                   if key not in run["series"] and any(key in r["series"] for r in runs)]
        if "loss" not in run["series"] and "val_loss" not in run["series"]:
            missing.insert(0, "loss")
        elif not has_tokens(run):
            missing.append("token count for some records (those are not on the loss against tokens)")
        if missing:
            notes.append(f"{run['label']} has no {', '.join(missing)}.")
        notes += [f"{run['label']}: {dropped_text(d)}; not plotted." for d in run["dropped"]]
    return made, notes


def write_data(runs, charts, out):
    """data.json: per run, the exact deduplicated series the charts plot (numbers as in metrics.jsonl),
    the points left out and why, and where each metric first became non-finite."""
    data = {
        "charts": [{"file": name, "title": title, "scales": scales} for name, title, scales in charts],
        "runs": [
            {
                "label": run["label"],
                "dir": run["dir"],
                "batch_tokens": run["batch_tokens"],
                "steps": [r["step"] for r in run["records"]],
                "series": run["series"],
                "dropped": run["dropped"],
                "non_finite": run["non_finite"],
            }
            for run in runs
        ]
    }
    out.write("data.json", (json.dumps(data, indent=1) + "\n").encode())


def summary_line(run):
    records = run["records"]
    parts = [f"{len(records)} records"]
    if records:
        parts.append(f"last step {records[-1]['step']}")
    for key, name in (("loss", "train loss"), ("val_loss", "val loss")):
        s = run["series"].get(key)
        if s:
            parts.append(f"{name} {s['values'][-1]:.4f} at step {s['steps'][-1]}")
        diverged = run["non_finite"].get(key)
        if diverged:
            parts.append(f"{name} {diverged['reason']} from step {diverged['step']}")
    return ", ".join(parts)


def write_page(runs, charts, notes, out, log_scale):
    e = html.escape
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = ["<h1>Training report</h1>",
            f"<p>{len(runs)} run(s), made {e(now)}{' with logarithmic loss axes' if log_scale else ''}. "
            f"The numbers behind the charts are in <a href=\"data.json\">data.json</a>.</p>",
            "<ul>"]
    body += [f"<li><a href=\"#run-{i}\">{e(run['label'])}</a>: {e(summary_line(run))}</li>"
             for i, run in enumerate(runs)]
    body.append("</ul>")
    if notes:
        body.append("<div class=\"notes\">" + "".join(f"<p>{e(n)}</p>" for n in notes) + "</div>")
    for name, title, _ in charts:
        body.append(f"<figure><img src=\"{e(name)}\" alt=\"{e(title)}\" width=\"990\" height=\"550\">"
                    f"<figcaption>{e(title)}</figcaption></figure>")
    for i, run in enumerate(runs):
        body.append(f"<h2 id=\"run-{i}\">{e(run['label'])}</h2><p>{e(run['dir'])}</p>")
        if run["sample"]:
            step, text = run["sample"]
            body.append(f"<h3>Latest sample (step {step})</h3><pre class=\"sample\">{e(text)}</pre>")
        else:
            body.append("<p>No samples (samples.txt is absent or empty).</p>")
        if run["config"] is not None:
            body.append(f"<h3>config.toml</h3><pre class=\"config\">{e(run['config'])}</pre>")
        else:
            body.append("<p>No config.toml in this run folder.</p>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Training report</title>\n"
            "<style>body{font-family:sans-serif;margin:1em 2em;max-width:1000px}"
            "img{max-width:100%;height:auto;border:1px solid #ddd}figure{margin:1em 0}"
            "pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap}.notes{color:#444;font-style:italic}"
            "</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    out.write("index.html", page.encode())


def main(argv):
    try:
        args = parse_args(argv)
        labels = run_labels(args.runs)
        runs = [load_run(d, label) for d, label in zip(args.runs, labels)]
        check_records(runs)
        out = prepare_out(args.out)
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        charts, notes = make_charts(runs, out, args.log_scale)
        write_data(runs, charts, out)
        write_page(runs, charts, notes, out, args.log_scale)
    except OSError as e:  # the folder was writable a moment ago: a full disk, say
        print(f"error: {e.filename or args.out}: cannot write ({e.strerror})", file=sys.stderr)
        return 1
    print(f"report: {len(charts)} chart(s) of {len(runs)} run(s) in {os.path.join(args.out, 'index.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
