from html.parser import HTMLParser

from jupyterhub_sessions.drives import Drive
from jupyterhub_sessions.options import parse_session_options
from jupyterhub_sessions.spawner.form import form_to_options, refill_choices, render_spawn_form


class Fields(HTMLParser):
    def __init__(self):
        super().__init__()
        self.names = set()
        self.disabled = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "name" in a:
            self.names.add(a["name"])
        if tag == "option" and "disabled" in a:
            self.disabled.append(a["value"])


def test_form_has_every_type_and_drive_controls(shipped_types):
    html = render_spawn_form(shipped_types, [Drive("home", "alice"), Drive("data", "alice", in_use_by="s1")])
    p = Fields()
    p.feed(html)
    assert {
        "session_type",
        "drive",
        "new_drive",
        "notebook:cpu",
        "notebook:timeout",
        "notebook:collaborative",
        "notebook:image",
        "carta:cpu",
    } <= p.names
    assert "carta:collaborative" not in p.names  # not offered for carta
    assert p.disabled == ["data"]
    assert "in use by s1" in html


def test_hostile_text_is_escaped(shipped_types):
    evil = "<img src=x onerror=alert(1)>"
    html = render_spawn_form(shipped_types, [Drive(evil, "alice", in_use_by=evil)])
    assert evil not in html and "&lt;img" in html


def test_form_round_trip(shipped_types):
    formdata = {
        "session_type": ["notebook"],
        "notebook:cpu": ["2"],
        "notebook:memory": ["4G"],
        "notebook:timeout": ["-1"],
        "notebook:collaborative": ["on"],
        "carta:cpu": ["8"],
        "drive": ["__new__"],
        "new_drive": ["thesis"],
        "evil": ["x"],
    }
    raw = form_to_options(formdata)
    assert "evil" not in raw and raw["cpu"] == "2"
    o = parse_session_options(raw, shipped_types, "alice")
    assert (o.session_type, o.cpu, o.timeout, o.collaborative, o.drive, o.create_drive) == (
        "notebook",
        2.0,
        -1,
        True,
        "thesis",
        True,
    )


def test_unchecked_collaborative_is_off(shipped_types):
    raw = form_to_options({"session_type": ["notebook"], "drive": ["home"]})
    assert parse_session_options(raw, shipped_types, "alice").collaborative is False


def _selected(html, select_id):
    """The value of the selected option of <select id=select_id> (or None)."""
    import re

    block = re.search(rf'<select[^>]*id="{select_id}".*?</select>', html, re.S).group(0)
    m = re.search(r'<option value="([^"]*)"\s+selected', block)
    return m.group(1) if m else None


def test_a_refused_submission_refills_the_form(shipped_types):
    formdata = {
        "session_type": ["notebook"],
        "notebook:cpu": ["2"],
        "notebook:timeout": ["-1"],
        "notebook:collaborative": ["on"],
        "drive": ["__new__"],
        "new_drive": ["thesis"],
    }
    previous = refill_choices(form_to_options(formdata))
    html = render_spawn_form(shipped_types, [Drive("home", "alice")], previous=previous)
    assert 'value="notebook" checked' in html
    assert _selected(html, "jhs-notebook-cpu") == "2"
    assert _selected(html, "jhs-notebook-timeout") == "-1"
    assert 'name="notebook:collaborative" value="on" checked' in html
    assert _selected(html, "jhs-drive-select") == "__new__"
    assert 'id="jhs-new-drive"' in html and 'value="thesis"' in html


def test_hostile_refill_values_are_dropped_or_escaped(shipped_types):
    evil = "<script>alert(1)</script>"
    raw = {
        "session_type": "notebook",
        "cpu": "nan",
        "gpu": "1e999",
        "memory": evil,
        "collaborative": "off",
        "drive": "__new__",
        "new_drive": evil,
        "timeout": "x" * 10_000,
    }
    previous = refill_choices(raw)
    assert "cpu" not in previous and "gpu" not in previous and "timeout" not in previous
    assert previous["collaborative"] is False
    html = render_spawn_form(shipped_types, [Drive("home", "alice")], previous=previous)
    assert evil not in html and "&lt;script&gt;" in html
    assert 'name="notebook:collaborative" value="on" checked' not in html
