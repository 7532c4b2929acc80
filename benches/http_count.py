#!/usr/bin/env python3
"""The end-to-end part of benches/run (issue 11): the cohort builder's count over HTTP.

Starts the release `wb serve` on loopback with its own SQLite data directory, registers the
benchmark CDR as the Registered Tier's default dataset version (`wb cdr register --data-dir`),
creates a researcher through the sign-up pages, gives them Registered Tier access with
`wb admin user bypass` (the administrator's path the browser tests use too), signs in, creates a
workspace on the dataset through the workspace form, then times
`POST /api/v1/workspaces/{ns}/cohorts/count` (session cookie and CSRF header, as the builder
page sends it) for a sequence of edits: the definition grows criterion by criterion, as a
researcher builds it, and every step is one edit answered with all counts and the chart.
Finally it reads the server's resident memory (VmRSS, VmHWM in /proc/PID/status) with the CDR
open. Prints one JSON object. Standard library only.

    http_count.py WB_BINARY CDR_DIR RUNS WB_BENCH_JSON
"""
import html.parser
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

PASSWORD = "violet harbor lantern 2931"
MODULES = ["two_factor", "identity", "rt_training", "code_of_conduct"]


class Forms(html.parser.HTMLParser):
    """Every <form> of a page: its action and the values a browser would send by default,
    with the options of each select and the values of each checkbox/radio group."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self.form = None
        self.select = None
        self.textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.form = {"action": a.get("action", ""), "values": [], "options": {}, "choices": {}}
            self.forms.append(self.form)
        if self.form is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                self.form["choices"].setdefault(name, []).append(a.get("value", "on"))
                if "checked" in a:
                    self.form["values"].append((name, a.get("value", "on")))
            elif kind not in ("submit", "button"):
                self.form["values"].append((name, a.get("value", "")))
        elif tag == "select" and name:
            self.select = name
            self.form["options"][name] = []
        elif tag == "option" and self.select:
            self.form["options"][self.select].append(a.get("value", ""))
            if "selected" in a:
                self.form["values"].append((self.select, a.get("value", "")))
        elif tag == "textarea" and name:
            self.textarea = name
            self.form["values"].append((name, ""))

    def handle_data(self, data):
        if self.textarea and self.form:
            n, v = self.form["values"][-1]
            self.form["values"][-1] = (n, v + data)

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def forms(page):
    p = Forms()
    p.feed(page)
    return p.forms


class Client:
    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = ""

    def request(self, method, path, data=None, headers=None):
        url = path if path.startswith("http") else self.base + path
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=120) as r:
                body = r.read().decode()
                status, final = r.status, r.url
        except urllib.error.HTTPError as e:
            body, status, final = e.read().decode(), e.code, url
        m = re.search(r'name="csrf_token" value="([^"]+)"', body)
        if m:
            self.csrf = m.group(1)
        return status, body, final

    def get(self, path):
        return self.request("GET", path)

    def submit(self, page, action, overrides, drop=()):
        """Submits the form of `page` posting to `action` with its default values, `overrides`
        replacing fields (a list value sends the field once per item)."""
        form = next((f for f in forms(page) if f["action"] == action), None)
        if form is None:
            raise SystemExit(f"no form posting to {action} in the page:\n{page[:3000]}")
        values = [(n, v) for n, v in form["values"] if n not in overrides and n not in drop]
        for n, v in overrides.items():
            for item in v if isinstance(v, list) else [v]:
                values.append((n, item))
        data = urllib.parse.urlencode(values).encode()
        return self.request(
            "POST",
            action,
            data,
            {"content-type": "application/x-www-form-urlencoded", "origin": self.base},
        )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def fail(what, status, body):
    raise SystemExit(f"http_count.py: {what} answered {status}:\n{re.sub(r'<[^>]+>', ' ', body)[:3000]}")


def first_option(form_page, action, name):
    form = next(f for f in forms(form_page) if f["action"] == action)
    return next(o for o in form["options"][name] if o)


def edits(cohorts):
    """The sequence of edits: a definition grown criterion by criterion from the bench's
    10 × 5 definition (every group gets its first criterion, then the rest one at a time)."""
    full = next(d for d in cohorts if d["name"] == "e_10_groups_5_criteria")["definition"]
    steps = []
    current = {"include": [], "exclude": []}
    order = [("include", i) for i in range(len(full["include"]))] + [
        ("exclude", i) for i in range(len(full["exclude"]))
    ]
    # One criterion at a time: first each group with its first criterion, then the others.
    for section, i in order:
        g = full[section][i]
        start = dict(g, criteria=g["criteria"][:1])
        if "temporal" in g:
            start["temporal"] = dict(g["temporal"], second=g["temporal"]["second"][:1])
        current[section].append(start)
        steps.append(json.loads(json.dumps(current)))
    for section, i in order:
        g = full[section][i]
        mine = current[section][i]
        for c in g["criteria"][1:]:
            mine["criteria"].append(c)
            steps.append(json.loads(json.dumps(current)))
        if "temporal" in g:
            for c in g["temporal"]["second"][1:]:
                mine["temporal"]["second"].append(c)
                steps.append(json.loads(json.dumps(current)))
    assert current == {"include": full["include"], "exclude": full["exclude"]}, "grew the definition"
    # An include group comes first: the definition needs one.
    return [s for s in steps if s["include"]]


def main():
    wb, cdr, runs = sys.argv[1], os.path.abspath(sys.argv[2]), int(sys.argv[3])
    with open(sys.argv[4]) as f:
        cohorts = json.load(f)["cohorts"]["definitions"]
    tmp = tempfile.mkdtemp(prefix="wb-bench-http.")
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    config = os.path.join(tmp, "wb.toml")
    with open(config, "w") as f:
        f.write("[demo]\ncdr_persons = 0\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        WB_DATA_DIR=data,
        WB_HTTP__BIND=f"127.0.0.1:{port}",
        WB_HTTP__PUBLIC_URL=base,
        RUST_LOG="warn",
    )

    def wb_cmd(*args):
        r = subprocess.run([wb, "--config", config, *args], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"wb {' '.join(args)} failed: {r.stderr}")
        return r.stdout

    log = open(os.path.join(tmp, "serve.log"), "w")
    server = subprocess.Popen([wb, "--config", config, "serve"], env=env, stdout=log, stderr=log)
    try:
        out = run(server, base, wb_cmd, cdr, data, runs, cohorts)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        if os.environ.get("WB_BENCH_KEEP"):
            print(f"http_count.py: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out))


def run(server, base, wb_cmd, cdr, data, runs, cohorts):
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                raise SystemExit("wb serve did not start")
            time.sleep(0.2)
    version = "Benchmark CDR " + os.path.basename(cdr)
    wb_cmd("cdr", "register", "--name", version, "--tier", "registered", "--default", "--data-dir", cdr)
    rss_started = status_kb(server.pid, "VmRSS")

    # Sign up through the pages.
    c = Client(base)
    stamp = str(int(time.time() * 1000))[-10:]
    username = f"bench{stamp}"
    _, page, _ = c.get("/create-account")
    status, page, _ = c.submit(page, "/create-account", {"agree": "yes"})
    if "Step 1 of 2" not in page:
        fail("the terms", status, page)
    _, roles, _ = c.get("/create-account/roles?institution=northfield")
    role = next(o for o in re.findall(r'<option value="([^"]*)"', roles) if o)
    status, page, _ = c.submit(
        page,
        "/create-account/step-1",
        {"institution": "northfield", "email": f"{username}@northfield.example", "role": role},
    )
    if "Step 2 of 2" not in page:
        fail("sign-up step 1", status, page)
    step2 = next(f for f in forms(page) if f["action"] == "/create-account/step-2")
    values = {
        "username": username,
        "given_name": "Bench",
        "family_name": f"Mark{stamp[-6:]}",
        "street1": "1 Lantern Lane",
        "city": "Northfield",
        "state_province": "Minnesota",
        "zip": "55057",
        "country": "United States",
        "research_background": "Benchmarks the cohort builder's count API end to end.",
        "discovery": step2["choices"]["discovery"][0],
    }
    for name in ("sex_at_birth", "education", "disability", "disadvantaged"):
        opts = step2["options"].get(name)
        if opts:
            values[name] = next((o for o in opts if "prefer" in o), opts[-1])
    values["year_of_birth_prefer_not"] = "yes"
    status, page, _ = c.submit(page, "/create-account/step-2", values)
    if "Congratulations" not in page:
        fail("sign-up step 2", status, page)

    # The welcome mail's temporary password; first sign-in; a new password.
    outbox = os.path.join(data, "outbox")
    temp = None
    for _ in range(100):
        for name in sorted(os.listdir(outbox)) if os.path.isdir(outbox) else []:
            with open(os.path.join(outbox, name), errors="replace") as f:
                mail = f.read()
            if username in mail:
                m = re.search(r"^Your Temporary Password: *(.+?) *$", mail, re.M)
                temp = m and m.group(1).strip()
        if temp:
            break
        time.sleep(0.1)
    if not temp:
        raise SystemExit("no welcome mail with a temporary password")
    _, page, _ = c.get("/sign-in")
    status, page, _ = c.submit(page, "/sign-in", {"username": username, "password": temp})
    if "Change Your Password" not in page:
        fail("the first sign-in", status, page)
    status, page, _ = c.submit(
        page, "/change-password", {"new_password": PASSWORD, "confirm_password": PASSWORD, "current_password": temp}
    )
    # Registered Tier access: the administrator bypasses the modules.
    for module in MODULES:
        wb_cmd("admin", "user", "bypass", username, "--module", module, "--reason", "benchmark")

    # A workspace on the benchmark dataset, through the form and its confirmation.
    status, page, _ = c.get("/workspaces/new")
    if status != 200:
        fail("the workspace form", status, page)
    form = next(f for f in forms(page) if f["action"] == "/workspaces/new")
    option = lambda name: form["options"].get(name, [])
    choices = form["choices"]
    picked = {}
    versions = option("cdr_version_registered")
    names = re.findall(r'<option value="([^"]*)"[^>]*>\s*([^<]*?)\s*</option>', page)
    ours = next((v for v, label in names if label == version and v in versions), None)
    if ours is None:
        fail(f"the workspace form has no dataset '{version}'", status, page)
    picked.update(
        {
            "name": f"Bench {stamp}",
            "tier": "registered",
            "cdr_version": ours,
            "cdr_version_registered": ours,
        }
    )
    if option("billing"):
        picked["billing"] = next(o for o in option("billing") if o)
    text_fields = [n for n, _ in form["values"] if n not in picked]
    run_form = dict(picked)
    run_form["purposes"] = next(v for v in choices.get("purposes", []) if "educat" in v.lower()) if any(
        "educat" in v.lower() for v in choices.get("purposes", [])
    ) else choices["purposes"][0]
    for name in ("intended_study", "scientific_approach", "anticipated_findings"):
        run_form[name] = "This workspace measures the cohort builder's count latency on synthetic data only."
    if "dissemination" in choices:
        other = [v for v in choices["dissemination"] if "other" in v.lower()]
        run_form["dissemination"] = other[0] if other else choices["dissemination"][0]
        run_form["dissemination_other"] = "No findings are published: a benchmark."
    if "outcomes" in choices:
        run_form["outcomes"] = choices["outcomes"][-1]
    for name in ("population", "review_requested"):
        if name in choices:
            run_form[name] = next((v for v in choices[name] if v in ("no", "false")), choices[name][-1])
    del text_fields
    status, page, _ = c.submit(page, "/workspaces/new", run_form)
    confirm = next((f for f in forms(page) if f["action"] == "/workspaces/confirm"), None)
    if confirm is None:
        fail("the workspace form", status, page)
    status, page, final = c.submit(page, "/workspaces/confirm", {"decision": "confirm"})
    m = re.search(r"/workspaces/([^/?#]+)$", urllib.parse.urlparse(final).path)
    if status != 200 or not m:
        fail(f"the workspace confirmation (at {final})", status, page)
    namespace = m.group(1)

    def count(definition):
        body = json.dumps({"definition": definition}).encode()
        t = time.perf_counter()
        status, text, _ = c.request(
            "POST",
            f"/api/v1/workspaces/{namespace}/cohorts/count",
            body,
            {"content-type": "application/json", "x-csrf-token": c.csrf, "origin": base},
        )
        ms = (time.perf_counter() - t) * 1e3
        if status != 200:
            fail("the count API", status, text)
        return ms, json.loads(text)

    # The first count opens the CDR (vocabulary, index, person facts) in the server.
    steps = edits(cohorts)
    first_ms, _ = count(steps[0])
    rss_open = status_kb(server.pid, "VmRSS")
    per_step = [[] for _ in steps]
    answers = [None] * len(steps)
    for _ in range(runs):
        for i, d in enumerate(steps):
            ms, answer = count(d)
            per_step[i].append(ms)
            answers[i] = answer
    all_ms = sorted(x for s in per_step for x in s)
    # The first pass: every edit adds a criterion the server has not counted before (the later
    # passes find every criterion in the engine's criteria cache).
    first_pass = sorted(s[0] for s in per_step)
    pick = lambda xs, p: xs[round((len(xs) - 1) * p)]
    # (The server takes "Current Age" on its own date, not the bench's fixed one, so its
    # totals are not compared with the engine's here; benches/duckdb_peer.py does that.)
    final = answers[-1]
    return {
        "namespace": namespace,
        "steps": len(steps),
        "runs": runs,
        "first_count_ms": first_ms,
        "p50_ms": pick(all_ms, 0.5),
        "p95_ms": pick(all_ms, 0.95),
        "max_ms": all_ms[-1],
        "first_pass_p50_ms": pick(first_pass, 0.5),
        "first_pass_p95_ms": pick(first_pass, 0.95),
        "step_p95_ms": [pick(sorted(s), 0.95) for s in per_step],
        "final_total": final["total"]["count"],
        "final_criteria": len(final["criteria"]),
        "rss_started_bytes": rss_started,
        "rss_open_bytes": rss_open,
        "rss_bytes": status_kb(server.pid, "VmRSS"),
        "hwm_bytes": status_kb(server.pid, "VmHWM"),
    }


if __name__ == "__main__":
    main()
