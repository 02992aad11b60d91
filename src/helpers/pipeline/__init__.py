"""Pipeline: running the stages in order and keeping their files.

``stages`` is the map of the analysis: one function per stage notebook, each reading the files
the earlier stages wrote (``context``) and calling the methods. ``runner`` executes the stage
notebooks in one kernel (``kernel``), ``outputs`` writes the output folder with its manifest,
``results`` assembles results.json, ``compare`` shows what changed between two runs, ``pool``
pools several runs (``srceval pool``) and ``refresh`` re-executes the committed notebooks.
"""
