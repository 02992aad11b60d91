"""Report: from results.json to what a reader sees.

``numbers`` formats every number and interval; ``tables`` shows tables, figures and captions in
the notebooks; ``figures`` draws the charts; ``summary`` writes the plain-English summary (from
``templates/summary.md.j2`` and ``templates/bottom_line.md.j2``); ``emmie`` the EMMIE appraisal;
``render`` turns the report notebook into report.html and report.pdf; ``pooled`` draws and
renders the pooled report. ``schema/`` describes results.json.
"""
