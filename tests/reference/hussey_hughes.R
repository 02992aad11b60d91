# Stepped-wedge variance and power (Hussey & Hughes 2007, Contemporary Clinical Trials 28:182-191),
# computed in base R by generalised least squares, for test_vs_hussey_hughes.py.
# Run from the repository root:
#   Rscript tests/reference/hussey_hughes.R > tests/reference/hussey_hughes.out
#
# The model of cluster-period means: Y_ij = mu + beta_j + X_ij * theta + alpha_i + e_ij, with
# alpha_i ~ N(0, tau^2) and e_ij ~ N(0, sigma^2 / m). Var(theta-hat) is the theta element of
# (Z' V^-1 Z)^-1, Z holding the intercept, period effects 2..T and the treatment indicator, V block
# diagonal with blocks (sigma^2 / m) I_T + tau^2 J_T. Power (their eq. 9) is
# pnorm(|theta| / sqrt(Var) - qnorm(1 - alpha / 2)).
#
# Worked example: 24 wards in 4 steps of 6 (5 periods, the first all control), baseline risk 5%
# falling to 4% (theta = -0.01), between-ward SD tau = 0.025, 100 reports per ward-period, alpha 0.05;
# sigma^2 = p (1 - p) at the mean risk 0.045. Second example: the roll-out of srceval's defaults,
# 79 wards in 6 steps (14, 13, 13, 13, 13, 13), risk 30.5% falling by 22%, ICC 0.02, 7.5 reports.

cat("R:", R.version$major, ".", R.version$minor, "\n", sep = "")

design <- function(per_step) {
  steps <- length(per_step)
  x <- do.call(rbind, lapply(seq_len(steps), function(s) {
    matrix(rep(as.numeric(seq_len(steps + 1) - 1 >= s), each = per_step[s]), nrow = per_step[s])
  }))
  x
}

gls_variance <- function(x, sigma2, tau2, m) {
  clusters <- nrow(x); periods <- ncol(x)
  block <- diag(sigma2 / m, periods) + matrix(tau2, periods, periods)
  inverse <- solve(block)
  information <- matrix(0, periods + 1, periods + 1)
  for (i in seq_len(clusters)) {
    z <- cbind(1, rbind(0, diag(periods - 1))[, seq_len(periods - 1), drop = FALSE], x[i, ])
    information <- information + t(z) %*% inverse %*% z
  }
  solve(information)[periods + 1, periods + 1]
}

report <- function(name, x, risk0, theta, tau2, sigma2, m, alpha = 0.05) {
  v <- gls_variance(x, sigma2, tau2, m)
  cat(sprintf("%s_variance = %.17g\n", name, v))
  cat(sprintf("%s_power = %.17g\n", name, pnorm(abs(theta) / sqrt(v) - qnorm(1 - alpha / 2))))
}

mean_risk <- 0.05 - 0.01 / 2
report("example", design(c(6, 6, 6, 6)), 0.05, -0.01, 0.025^2, mean_risk * (1 - mean_risk), 100)

risk0 <- 0.305; theta <- -risk0 * 0.22; icc <- 0.02
mean_risk <- risk0 + theta / 2
sigma2 <- mean_risk * (1 - mean_risk)
report("rollout", design(c(14, 13, 13, 13, 13, 13)), risk0, theta, icc * sigma2 / (1 - icc), sigma2, 7.5)
