"""Methods: the estimators. A data frame in, tidy rows out, no file read or written.

``design`` resolves the declared design once (:class:`~helpers.methods.design.Design`: its units,
its nouns, what it supports); ``tidy`` defines the row every estimator returns
(:class:`~helpers.methods.tidy.Estimate`, in the shape of R's estimatr, stamped with its design and
confidence level). One module per estimator family, each handling every design: ``differences``
(risk difference, risk ratio, odds ratio, Fisher's exact test), ``adjusted_lin``, ``logistic``,
``complier`` and ``anderson_rubin`` (the complier effects and the weak-instrument set),
``randomisation``, ``power``, ``bayes``, ``open_investigations``, ``biased`` (per protocol, as
treated); ``registry`` lists the estimands every outcome gets and runs them; ``identification``
decides once whether a difference between the arms can be SRC's. ``arms``, ``robust``,
``covariates``, ``clustering``, ``permutation`` and ``modelfit`` serve them. ``audit`` and
``audit_design`` (balance, under each design), ``compliance`` (delivery), ``subgroups``,
``extrapolation``, ``economics``, ``pooling`` (meta-analysis of several runs) and ``disclosure``
(small categories combined for publication) serve the stages named after them.
"""
