# ruff: noqa: E501  (HTML and CSS lines read better unwrapped)
"""The Jinja2 template of the HTML report (kept apart so :mod:`eval.report` reads as code)."""

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>deepwell evaluation {{ r.run_id }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;padding:0 2em;color:#222;max-width:1200px}
h2{margin-top:1.6em;border-bottom:1px solid #e3e3e3;padding-bottom:.2em}
table{border-collapse:collapse;margin:.8em 0}td,th{border:1px solid #d6d6d6;padding:3px 8px;
text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}th{background:#f3f3f3}
td.l,th.l{text-align:left}tr.group th{background:#e8eef7;font-weight:600}
td.best{font-weight:700;background:#f1f8ee}.na{color:#bbb}
table.bytype tr.first td{border-top:2px solid #aaa}
.ci{color:#888;font-size:11px}.note,.systems{color:#666;font-size:12px;max-width:60em}
.charts{display:flex;flex-wrap:wrap;gap:1em 2em}.chart{margin:0;width:560px}
.chart figcaption{font-weight:600;margin-bottom:.3em}.chart svg{width:100%;height:auto}
details{margin:.3em 0}summary{cursor:pointer}details.question{border-bottom:1px solid #eee;padding:.2em 0}
.ans{white-space:pre-wrap;background:#fafafa;border-left:3px solid #99c;padding:4px 8px;max-width:70em}
.ctx{white-space:pre-wrap;font-size:12px;color:#555;border-left:2px solid #ddd;padding-left:6px;margin:.3em 0;max-width:70em}
.sys{margin:.6em 0 .6em 1em;padding-left:.8em;border-left:3px solid #eee}.sys h4{margin:.3em 0}
.warn{color:#a50}.err{color:#b00}code{font-size:12px}
</style></head><body>
<h1>deepwell evaluation</h1>
<p>Run <b>{{ r.run_id }}</b> at {{ r.created_at }} · dataset <b>{{ r.dataset.name }}</b>
(version {{ r.dataset.version }}, {{ r.dataset.selected }} of {{ r.dataset['items'] }} questions
{%- if r.dataset.quick %}, quick stratified sample{% endif %}) · git {{ r.git_rev }} ·
config {{ r.config_hash }} · model {{ r.config.eval.model }} · llm backend {{ r.config.llm_backend }}</p>
{% for w in r.warnings %}<p class="warn">⚠ {{ w }}</p>{% endfor %}

<p class="systems">{% for s in r.systems %}<b>{{ s }}</b>: {{ descriptions.get(s, '') }}{% if not loop.last %} · {% endif %}{% endfor %}</p>

<h2 id="comparison">Comparison</h2>
<table class="comparison"><tr><th class="l">metric</th>
{% for s in r.systems %}<th>{{ s }}</th>{% endfor %}</tr>
{% for group, names in groups %}<tr class="group"><th class="l" colspan="{{ r.systems|length + 1 }}">{{ group }}</th></tr>
{% for m in names %}<tr><td class="l">{{ m }}</td>
{% for s in r.systems %}{% set e = r.summary[s].get(m) %}<td{% if s in best.get(m, ()) %} class="best"{% endif %}>{% if e %}{{ '%.3f'|format(e.mean) }} <span class="ci">[{{ '%.2f'|format(e.low) }}, {{ '%.2f'|format(e.high) }}]</span>{% else %}<span class="na">–</span>{% endif %}</td>
{% endfor %}</tr>
{% endfor %}{% endfor %}
<tr class="group"><th class="l" colspan="{{ r.systems|length + 1 }}">cost per question</th></tr>
{% for label, key, fmt in cost_rows %}<tr><td class="l">{{ label }}</td>
{% for s in r.systems %}<td>{{ fmt|format(r.latency[s][key]) }}</td>{% endfor %}</tr>
{% endfor %}</table>
<p class="note">Means over the questions with 95% percentile-bootstrap intervals; bold: the best
system on that metric; – : the metric does not apply to the system. Retrieval metrics are
document-level against the reference sources; the systems that retrieve share one retriever.</p>

<h2 id="charts">Charts</h2>
<div class="charts">{% for title, svg in charts.items() %}<figure class="chart"><figcaption>{{ title }}</figcaption>{{ svg|safe }}</figure>
{% endfor %}</div>

<h2 id="types">By question type</h2>
<table class="bytype"><tr><th class="l">metric</th><th class="l">question type</th>
{% for s in r.systems %}<th>{{ s }}</th>{% endfor %}<th>n</th></tr>
{% for m in type_metrics %}{% for t in types %}<tr{% if loop.first %} class="first"{% endif %}>{% if loop.first %}<td class="l" rowspan="{{ types|length }}">{{ m }}</td>{% endif %}
<td class="l">{{ t }}</td>{% for s in r.systems %}{% set v = r.by_type[s].get(t, {}).get(m) %}<td>{% if v is not none %}{{ '%.3f'|format(v) }}{% else %}<span class="na">–</span>{% endif %}</td>{% endfor %}<td>{{ type_counts[t] }}</td></tr>
{% endfor %}{% endfor %}</table>
<p class="note">The key metrics; every metric per type is in <code>results.json</code> (<code>by_type</code>).</p>

{% if history %}<h2 id="history">Earlier runs</h2><table><tr><th class="l">run</th>
<th class="l">when</th><th>accepted</th></tr>
{% for h in history %}<tr><td class="l">{{ h.run_id }}</td><td class="l">{{ h.created_at }}</td>
<td>{{ 'yes' if h.accepted else '' }}</td></tr>{% endfor %}</table>{% endif %}

<h2 id="stages">Wall time per stage</h2><table class="stages">
{% for k, v in r.stage_seconds.items() %}<tr><td class="l">{{ k }}</td><td>{{ '%.1f'|format(v) }} s</td></tr>
{% endfor %}</table>
{% set ft = r.extra.finetune %}{% if ft %}<p>Fine-tuned adapter <code>{{ ft.key }}</code> ({{ 'cached' if ft.cached else 'trained in %.0f s'|format(ft.seconds) }}):
{{ ft.chunks }} chunks, {{ ft.qa_pairs }} question/answer pairs, {{ ft.steps }} steps{% if ft.first_loss is not none %}, loss {{ '%.2f'|format(ft.first_loss) }} → {{ '%.2f'|format(ft.last_loss) }}{% endif %}.</p>{% endif %}

<h2 id="questions">Questions</h2>
{% for q in r.questions %}<details class="question"><summary><b>{{ q.qid }}</b>
[{{ q.type }}] {{ q.question }}</summary>
<p><b>Reference</b> (sources: {{ q.sources|join(', ') }} → {{ q.reference_docs|join(', ') or 'none found' }})</p>
<div class="ans">{{ q.reference }}</div>
{% for s, o in q.outputs.items() %}<div class="sys"><h4>{{ s }}</h4>
{% if o.error %}<p class="err">error: {{ o.error }}</p>{% endif %}
{% if o.answer is not none %}<div class="ans">{{ o.answer }}</div>{% endif %}
<p class="ci">{% for m, v in o.metrics.items() %}{{ m }}={{ ('%.0f' if m in cost_metrics else '%.3g')|format(v) }} {% endfor %}</p>
{% if o.ranked_docs %}<p class="ci">ranked: {{ o.ranked_docs|join(' · ') }}</p>{% endif %}
{% if o.citations %}<p>cited: {% for c in o.citations %}[{{ c.n }}] {{ c.title }}
{%- if c.page_start %} p.{{ c.page_start }}{% endif %}; {% endfor %}</p>{% endif %}
{% if o.contexts %}<details><summary>{{ o.contexts|length }} context passage(s)</summary>
{% for c in o.contexts %}<div class="ctx">[{{ loop.index }}] {{ c }}</div>{% endfor %}</details>{% endif %}
</div>
{% endfor %}</details>
{% endfor %}
</body></html>
"""
