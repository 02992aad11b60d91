# Reference values for tests/test_vs_metafor.py: metafor's pooling of three SRC runs.
#
# Run from the repository root:  Rscript tests/reference/metafor_pool.R > tests/reference/metafor_pool.out
# Produced with R 4.2.2 and metafor 3.8.1 (Debian packages r-base-core, r-cran-metafor).
#
# The counts are those of three runs of `srceval run` (withdrawal: events / randomised reports):
#   shipped   the shipped synthetic data           SRC 54/125, BAU 69/125
#   trial_a   srceval simulate --seed 11 --n-control 150 --n-treatment 150 --control-withdrawal 0.48
#             --complier-withdrawal 0.42 --noncomplier-withdrawal 0.46 --control-charge 0.06 --treatment-charge 0.07
#                                                  SRC 64/150, BAU 72/150
#   trial_b   srceval simulate --seed 12 --n-control 100 --n-treatment 100 --control-withdrawal 0.60
#             --complier-withdrawal 0.30 --noncomplier-withdrawal 0.50 --control-charge 0.05 --treatment-charge 0.08
#                                                  SRC 34/100, BAU 60/100
# A second set has zero cells: one study with no SRC events (0.5 added to its four cells, escalc's
# default add = 1/2, to = "only0") and one with no events in either arm (dropped from the risk
# ratio, drop00 = TRUE; kept for the risk difference, where escalc's default keeps it, corrected).
# Each set is pooled by the Hartung-Knapp method as published (test = "knha") and by its modification
# (test = "adhoc": the variance factor s² floored at 1; Knapp & Hartung 2003, Röver et al. 2015).
suppressPackageStartupMessages(library(metafor))

cat("R:", R.version.string, "\n")
cat("metafor:", as.character(packageVersion("metafor")), "\n")

show <- function(name, value) cat(sprintf("%s = %.17g\n", name, value))

pool <- function(label, dat, measure, drop00 = FALSE) {
  es <- escalc(measure = measure, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, drop00 = drop00)
  for (i in seq_len(nrow(es))) {
    show(sprintf("%s.%s.yi[%d]", label, measure, i), es$yi[i])
    show(sprintf("%s.%s.vi[%d]", label, measure, i), es$vi[i])
  }
  fe <- rma(yi, vi, data = es, method = "FE")
  re <- rma(yi, vi, data = es, method = "REML", test = "knha")
  # metafor's own stopping rule is |change in tau2| < 1e-5; the same fit run to convergence:
  re_tight <- rma(yi, vi, data = es, method = "REML", test = "knha",
                  control = list(threshold = 1e-12, maxiter = 10000))
  # the modified Hartung-Knapp interval (Knapp & Hartung 2003): its variance factor is not below 1
  re_adhoc <- rma(yi, vi, data = es, method = "REML", test = "adhoc")
  dl <- rma(yi, vi, data = es, method = "DL")
  p <- predict(re)
  p_tight <- predict(re_tight)
  p_adhoc <- predict(re_adhoc)
  for (part in list(list("fe", fe), list("reml_knha", re), list("reml_knha_converged", re_tight),
                    list("reml_adhoc", re_adhoc))) {
    fit <- part[[2]]; tag <- sprintf("%s.%s.%s", label, measure, part[[1]])
    show(paste0(tag, ".k"), fit$k)
    show(paste0(tag, ".beta"), c(fit$beta)); show(paste0(tag, ".se"), fit$se)
    show(paste0(tag, ".ci_lb"), fit$ci.lb); show(paste0(tag, ".ci_ub"), fit$ci.ub)
    show(paste0(tag, ".pval"), fit$pval); show(paste0(tag, ".tau2"), fit$tau2)
    show(paste0(tag, ".I2"), fit$I2); show(paste0(tag, ".H2"), fit$H2)
    show(paste0(tag, ".QE"), fit$QE); show(paste0(tag, ".QEp"), fit$QEp)
  }
  tag <- sprintf("%s.%s.reml_knha", label, measure)
  show(paste0(tag, ".pi_lb"), p$pi.lb); show(paste0(tag, ".pi_ub"), p$pi.ub)
  tag <- sprintf("%s.%s.reml_knha_converged", label, measure)
  show(paste0(tag, ".pi_lb"), p_tight$pi.lb); show(paste0(tag, ".pi_ub"), p_tight$pi.ub)
  tag <- sprintf("%s.%s.reml_adhoc", label, measure)
  show(paste0(tag, ".pi_lb"), p_adhoc$pi.lb); show(paste0(tag, ".pi_ub"), p_adhoc$pi.ub)
  show(sprintf("%s.%s.dl.tau2", label, measure), dl$tau2)
}

runs <- data.frame(study = c("shipped", "trial_a", "trial_b"),
                   ai = c(54, 64, 34), n1i = c(125, 150, 100),   # SRC: withdrawals, reports
                   ci = c(69, 72, 60), n2i = c(125, 150, 100))   # BAU: withdrawals, reports
pool("runs", runs, "RR")
pool("runs", runs, "RD")

zeros <- data.frame(study = c("none_src", "some", "none_either", "plenty"),
                    ai = c(0, 2, 0, 9), n1i = c(50, 60, 40, 80),
                    ci = c(3, 5, 0, 12), n2i = c(50, 60, 40, 80))
pool("zeros", zeros, "RR", drop00 = TRUE)
pool("zeros", zeros, "RD")

# Two trials with the same counts (what two `srceval simulate` extracts with different seeds give, as the
# generator is calibrated to the published counts): Q = 0, tau2 = 0, and the unmodified Hartung-Knapp
# interval has no width, while the modified one keeps the fixed-effect variance.
same <- data.frame(study = c("seed_1", "seed_2"), ai = c(54, 54), n1i = c(125, 125), ci = c(69, 69), n2i = c(125, 125))
pool("same", same, "RR")
pool("same", same, "RD")
