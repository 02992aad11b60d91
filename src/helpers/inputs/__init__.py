"""Inputs: from the user's files to the analysis table.

``reading`` opens an allocation log or crime extract whatever its shape (CSV, Excel, encodings,
delimiters) and refuses what it cannot read; ``dates`` and ``outcomes`` parse dates and outcome
codes; ``cleaning`` joins the two files, checks them against the input contract and writes the
analysis table with an exclusion log; ``csvsafe`` writes CSV a spreadsheet cannot execute;
``provenance`` fingerprints the input files; ``simulate`` writes synthetic extracts.
"""
