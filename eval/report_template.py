# ruff: noqa: E501  (HTML and CSS lines read better unwrapped)
"""The Jinja2 template of the HTML report (kept apart so :mod:`eval.report` reads as code)."""

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>deepwell evaluation {{ r.run_id }}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 7px;
text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}td.l,th.l{text-align:left}
.ci{color:#777;font-size:11px}.chart{display:inline-block;margin:0 1em 1em 0;vertical-align:top}
.chart svg{max-width:680px;height:auto}details{margin:.3em 0}summary{cursor:pointer}
.ans{white-space:pre-wrap;background:#fafafa;border-left:3px solid #99c;padding:4px 8px}
.ctx{white-space:pre-wrap;font-size:12px;color:#555;border-left:2px solid #ddd;padding-left:6px}
.warn{color:#a50}.err{color:#b00}
</style></head><body>
<h1>deepwell evaluation</h1>
<p>Run <b>{{ r.run_id }}</b> at {{ r.created_at }} · dataset <b>{{ r.dataset.name }}</b>
(version {{ r.dataset.version }}, {{ r.dataset.selected }} of {{ r.dataset['items'] }} questions
{%- if r.dataset.quick %}, quick stratified sample{% endif %}) · git {{ r.git_rev }} ·
config {{ r.config_hash }} · model {{ r.config.eval.model }} · llm backend {{ r.config.llm_backend }}</p>
{% for w in r.warnings %}<p class="warn">⚠ {{ w }}</p>{% endfor %}

<h2 id="comparison">Comparison</h2>
<table class="comparison"><tr><th class="l">system</th>
{% for m in metrics %}<th>{{ m }}</th>{% endfor %}<th>p50 ms</th><th>p95 ms</th>
<th>prompt tok</th><th>answer tok</th></tr>
{% for s in r.systems %}<tr><th class="l">{{ s }}</th>
{% for m in metrics %}{% set e = r.summary[s].get(m) %}<td>{% if e %}{{ '%.3f'|format(e.mean) }}
<br><span class="ci">[{{ '%.2f'|format(e.low) }}, {{ '%.2f'|format(e.high) }}]</span>
{% else %}–{% endif %}</td>{% endfor %}
{% set l = r.latency[s] %}<td>{{ '%.0f'|format(l.p50_ms) }}</td><td>{{ '%.0f'|format(l.p95_ms) }}</td>
<td>{{ '%.0f'|format(l.prompt_tokens_mean) }}</td><td>{{ '%.0f'|format(l.completion_tokens_mean) }}</td></tr>
{% endfor %}</table>
<p class="ci">Means over questions with 95% percentile-bootstrap intervals; a metric that does
not apply to a system or question is left out (–). Retrieval metrics are document-level
against the reference sources.</p>

<h2 id="charts">Charts</h2>
{% for title, svg in charts.items() %}<div class="chart"><h3>{{ title }}</h3>{{ svg|safe }}</div>
{% endfor %}

<h2 id="types">By question type</h2>
{% for s in r.systems %}<h3>{{ s }}</h3><table><tr><th class="l">type</th>
{% for m in metrics %}{% if m in r.summary[s] %}<th>{{ m }}</th>{% endif %}{% endfor %}</tr>
{% for t, ms in r.by_type[s].items() %}<tr><td class="l">{{ t }}</td>
{% for m in metrics %}{% if m in r.summary[s] %}<td>{% if m in ms %}{{ '%.3f'|format(ms[m]) }}
{% else %}–{% endif %}</td>{% endif %}{% endfor %}</tr>{% endfor %}</table>
{% endfor %}

{% if history %}<h2 id="history">Earlier runs</h2><table><tr><th class="l">run</th>
<th class="l">when</th><th>accepted</th></tr>
{% for h in history %}<tr><td class="l">{{ h.run_id }}</td><td class="l">{{ h.created_at }}</td>
<td>{{ 'yes' if h.accepted else '' }}</td></tr>{% endfor %}</table>{% endif %}

<h2 id="stages">Wall time per stage (s)</h2><table>
{% for k, v in r.stage_seconds.items() %}<tr><td class="l">{{ k }}</td><td>{{ v }}</td></tr>
{% endfor %}</table>
{% if r.extra.finetune %}<p>Fine-tune: {{ r.extra.finetune }}</p>{% endif %}

<h2 id="questions">Questions</h2>
{% for q in r.questions %}<details class="question"><summary><b>{{ q.qid }}</b>
[{{ q.type }}] {{ q.question }}</summary>
<p><b>Reference</b> (sources: {{ q.sources|join(', ') }} → {{ q.reference_docs|join(', ') or 'none found' }})</p>
<div class="ans">{{ q.reference }}</div>
{% for s, o in q.outputs.items() %}<h4>{{ s }}</h4>
{% if o.error %}<p class="err">error: {{ o.error }}</p>{% endif %}
{% if o.answer is not none %}<div class="ans">{{ o.answer }}</div>{% endif %}
<p class="ci">{% for m, v in o.metrics.items() %}{{ m }}={{ '%.3g'|format(v) }} {% endfor %}</p>
{% if o.ranked_docs %}<p class="ci">ranked: {{ o.ranked_docs|join(' · ') }}</p>{% endif %}
{% if o.citations %}<p>cited: {% for c in o.citations %}[{{ c.n }}] {{ c.title }}
{%- if c.page_start %} p.{{ c.page_start }}{% endif %}; {% endfor %}</p>{% endif %}
{% if o.contexts %}<details><summary>{{ o.contexts|length }} context passage(s)</summary>
{% for c in o.contexts %}<div class="ctx">[{{ loop.index }}] {{ c }}</div>{% endfor %}</details>{% endif %}
{% endfor %}</details>
{% endfor %}
</body></html>
"""
