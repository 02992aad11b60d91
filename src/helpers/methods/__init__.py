"""Methods: the estimators. A data frame in, tidy rows out, no file read or written.

``tidy`` defines the row every estimator returns (:class:`~helpers.methods.tidy.Estimate`, in
the shape of R's estimatr). ``estimation`` holds the effect estimates of a completely randomised
trial; ``designs`` those of blocked, cluster and Bernoulli designs; ``dispatch`` chooses between
them by the declared design. ``audit`` (balance), ``compliance`` (delivery, complier effects),
``adjusted`` (Lin and logistic covariate adjustment), ``subgroups``, ``extrapolation``,
``economics``, ``pooling`` (meta-analysis of several runs), ``permutation``, ``modelfit`` and
``disclosure`` (small categories combined for publication) serve the stages named after them.
"""
