"""Report: from results.json to what a reader sees.

``sections`` renders each audience's list of section templates (``templates/sections/``), with the
variables ``view`` builds from results.json; ``numbers`` formats every number and interval;
``tables`` builds the tables (and shows them in the stage notebooks); ``findings`` states what each
figure shows; ``figures`` draws the charts; ``summary`` writes the plain-English summary (from
``templates/summary.md.j2`` and ``templates/bottom_line.md.j2``); ``emmie`` the EMMIE appraisal;
``render`` turns the report notebook into report.html and report.pdf; ``pooled`` draws and
renders the pooled report. ``schema/`` describes results.json.
"""
