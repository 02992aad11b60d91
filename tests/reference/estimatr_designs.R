# Reference values for tests/test_vs_estimatr_designs.py: estimatr (and metafor, base R) on
# blocked, matched-pair, cluster and small randomisation-inference trials.
#
# Run from the repository root:  Rscript tests/reference/estimatr_designs.R > tests/reference/estimatr_designs.out
# Produced with R 4.2.2, estimatr 1.0.0 and metafor 3.8.1 (Debian r-base-core, r-cran-estimatr,
# r-cran-metafor). The script writes the data sets it analyses as CSV files beside itself
# (set.seed makes them the same on every run of this R version); the Python tests read those
# CSV files, so neither side depends on the other's random number generator.
suppressPackageStartupMessages({library(estimatr); library(metafor)})

cat("R:", R.version.string, "\n")
cat("estimatr:", as.character(packageVersion("estimatr")), "\n")
cat("metafor:", as.character(packageVersion("metafor")), "\n")

here <- "tests/reference"
show <- function(name, value) cat(sprintf("%s = %.17g\n", name, value))
show_fit <- function(tag, tidy_row) {
  for (field in c("estimate", "std.error", "statistic", "p.value", "conf.low", "conf.high", "df")) {
    show(paste0(tag, ".", field), tidy_row[[field]])
  }
}

# ---- Blocked trial: three blocks, SRC shares 0.3 / 0.5 / 0.7, risks rising across blocks ----
# The naive difference in means is biased upwards (SRC is concentrated in the high-risk block).
set.seed(20240101)
sizes <- c(40, 60, 50); shares <- c(0.3, 0.5, 0.7); base <- c(0.2, 0.4, 0.6)
blocked <- do.call(rbind, lapply(1:3, function(j) {
  n <- sizes[j]; treated <- round(shares[j] * n)
  z <- sample(c(rep(1, treated), rep(0, n - treated)))
  y <- rbinom(n, 1, base[j] - 0.10 * z)
  data.frame(block = paste0("B", j), z = z, y = y)
}))
write.csv(blocked, file.path(here, "blocked_trial.csv"), row.names = FALSE)

show_fit("blocked.dim", tidy(difference_in_means(y ~ z, blocks = block, data = blocked)))
show_fit("blocked.naive", tidy(difference_in_means(y ~ z, data = blocked)))
tab <- aggregate(cbind(ai = y * z, n1i = z, ci = y * (1 - z), n2i = 1 - z) ~ block, data = blocked, FUN = sum)
mh <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = tab, measure = "RR")
show("blocked.mh_rr.estimate", exp(c(mh$beta)))
show("blocked.mh_rr.log_se", mh$se)
show("blocked.mh_rr.conf.low", exp(mh$ci.lb))
show("blocked.mh_rr.conf.high", exp(mh$ci.ub))
show("blocked.mh_rr.p.value", mh$pval)

# ---- Matched pairs: twelve pairs, one SRC report in each ----
set.seed(20240102)
pairs <- data.frame(pair = rep(sprintf("P%02d", 1:12), each = 2), z = c(replicate(12, sample(0:1))))
pairs$y <- round(rnorm(24, mean = rep(seq(1, 6, length.out = 12), each = 2) - 0.8 * pairs$z), 3)
write.csv(pairs, file.path(here, "pairs_trial.csv"), row.names = FALSE)
show_fit("pairs.dim", tidy(difference_in_means(y ~ z, blocks = pair, data = pairs)))
# Pairs beside a larger block: estimatr warns and uses the matched-pairs variance for all blocks.
mixed <- rbind(pairs, data.frame(pair = "BIG", z = c(1, 1, 1, 0, 0, 0, 0), y = c(2.5, 3.1, 2.2, 3.9, 4.4, 3.0, 4.1)))
write.csv(mixed, file.path(here, "mixed_blocks_trial.csv"), row.names = FALSE)
show_fit("mixed.dim", tidy(suppressWarnings(difference_in_means(y ~ z, blocks = pair, data = mixed))))

# ---- Cluster trial: 20 wards, 10 allocated to SRC as whole wards; delivery 75% in SRC wards ----
set.seed(20240103)
wards <- data.frame(ward = sprintf("W%02d", 1:20), size = sample(6:18, 20, replace = TRUE),
                    effect = rnorm(20, 0, 0.8), zc = sample(rep(0:1, 10)))
cluster <- do.call(rbind, lapply(seq_len(nrow(wards)), function(g) {
  w <- wards[g, ]; m <- w$size
  d <- if (w$zc == 1) rbinom(m, 1, 0.75) else rep(0, m)
  y <- rbinom(m, 1, plogis(0.1 + w$effect - 0.9 * d))
  data.frame(ward = w$ward, z = w$zc, d = d, y = y)
}))
write.csv(cluster, file.path(here, "cluster_trial.csv"), row.names = FALSE)

itt <- lm_robust(y ~ z, clusters = ward, se_type = "CR2", data = cluster)
show_fit("cluster.itt", tidy(itt)[2, ])
cace <- iv_robust(y ~ d | z, clusters = ward, se_type = "CR2", data = cluster)
show_fit("cluster.cace", tidy(cace)[2, ])
show("cluster.n", nrow(cluster))
show("cluster.clusters", length(unique(cluster$ward)))

# Intra-cluster correlation by the one-way ANOVA estimator (Donner & Koval 1980), from the
# mean squares of base R's anova(): ignoring the arms, and with wards nested in arms.
m <- table(cluster$ward); N <- sum(m); G <- length(m)
oneway <- anova(lm(y ~ factor(ward), data = cluster))
msb <- oneway[1, "Mean Sq"]; msw <- oneway[2, "Mean Sq"]
m0 <- (N - sum(m^2) / N) / (G - 1)
show("cluster.icc_oneway.msb", msb); show("cluster.icc_oneway.msw", msw); show("cluster.icc_oneway.m0", m0)
show("cluster.icc_oneway", (msb - msw) / (msb + (m0 - 1) * msw))
nested <- anova(lm(y ~ z + factor(ward), data = cluster))
msb <- nested["factor(ward)", "Mean Sq"]; msw <- nested["Residuals", "Mean Sq"]
arm_of <- tapply(cluster$z, cluster$ward, function(x) x[1])
m0 <- (N - sum(tapply(m^2, arm_of, sum) / tapply(m, arm_of, sum))) / (G - 2)
icc <- (msb - msw) / (msb + (m0 - 1) * msw)
show("cluster.icc_within_arms.msb", msb); show("cluster.icc_within_arms.msw", msw)
show("cluster.icc_within_arms.m0", m0); show("cluster.icc_within_arms", icc)
show("cluster.mean_size", mean(m))
show("cluster.design_effect_within_arms", 1 + (mean(m) - 1) * icc)

# ---- Exact randomisation distributions of small trials (references for the simulated p-values) ----
# p = P(|T| >= |T_observed|) over every assignment the design could have drawn, T the estimator.
tolerance <- 1e-12
# (a) Bernoulli(0.4) assignment of 12 reports; assignments with an empty arm are excluded
#     (the difference in means is undefined there), the rest weighted by p^k (1 - p)^(n - k).
set.seed(20240104)
bern <- data.frame(z = c(1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1), y = round(rnorm(12, 0, 1), 3))
bern$y[bern$z == 1] <- bern$y[bern$z == 1] - 1
bern$y01 <- as.numeric(bern$y > 0)  # a binary outcome on the same reports
write.csv(bern, file.path(here, "bernoulli_trial.csv"), row.names = FALSE)
dm <- function(y, z) mean(y[z == 1]) - mean(y[z == 0])
obs <- dm(bern$y, bern$z)
grid <- as.matrix(expand.grid(rep(list(0:1), 12)))
k <- rowSums(grid); ok <- k > 0 & k < 12
w <- 0.4^k * 0.6^(12 - k)
stat <- apply(grid, 1, function(z) if (sum(z) > 0 && sum(z) < 12) dm(bern$y, z) else NA)
show("bernoulli.observed", obs)
show("bernoulli.exact_p", sum(w[ok] * (abs(stat[ok]) >= abs(obs) - tolerance)) / sum(w[ok]))
obs01 <- dm(bern$y01, bern$z)
stat01 <- apply(grid, 1, function(z) if (sum(z) > 0 && sum(z) < 12) dm(bern$y01, z) else NA)
show("bernoulli.binary.observed", obs01)
show("bernoulli.binary.exact_p", sum(w[ok] * (abs(stat01[ok]) >= abs(obs01) - tolerance)) / sum(w[ok]))
# (b) complete randomisation within three blocks of 4, 4 and 5 reports (2 SRC each): 360 assignments.
ri_blocks <- data.frame(block = rep(c("A", "B", "C"), c(4, 4, 5)),
                        z = c(1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0),
                        y = c(2.1, 3.0, 1.7, 2.9, 5.2, 4.1, 3.8, 5.5, 6.0, 7.4, 7.1, 5.9, 6.8),
                        y01 = c(0, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 0))
write.csv(ri_blocks, file.path(here, "ri_blocked_trial.csv"), row.names = FALSE)
block_dim <- function(y, z, b) {
  sum(sapply(split(seq_along(y), b), function(i) length(i) * dm(y[i], z[i]))) / length(y)
}
obs <- block_dim(ri_blocks$y, ri_blocks$z, ri_blocks$block)
idx <- split(seq_len(nrow(ri_blocks)), ri_blocks$block)
choices <- lapply(idx, function(i) combn(i, 2, simplify = FALSE))
stats_b <- c(); stats_b01 <- c()
for (a in choices$A) for (b in choices$B) for (cc in choices$C) {
  z <- rep(0, 13); z[c(a, b, cc)] <- 1
  stats_b <- c(stats_b, block_dim(ri_blocks$y, z, ri_blocks$block))
  stats_b01 <- c(stats_b01, block_dim(ri_blocks$y01, z, ri_blocks$block))
}
show("ri_blocked.observed", obs)
show("ri_blocked.assignments", length(stats_b))
show("ri_blocked.exact_p", mean(abs(stats_b) >= abs(obs) - tolerance))
obs01 <- block_dim(ri_blocks$y01, ri_blocks$z, ri_blocks$block)
show("ri_blocked.binary.observed", obs01)
show("ri_blocked.binary.exact_p", mean(abs(stats_b01) >= abs(obs01) - tolerance))
# (c) whole clusters: 8 wards, 4 to SRC: choose(8, 4) = 70 assignments.
ri_clusters <- data.frame(ward = rep(sprintf("W%d", 1:8), c(3, 5, 4, 2, 6, 3, 4, 5)))
ri_clusters$z <- as.numeric(ri_clusters$ward %in% c("W1", "W3", "W6", "W8"))
set.seed(20240105)
ri_clusters$y <- round(rnorm(nrow(ri_clusters), as.numeric(factor(ri_clusters$ward)) / 4 - 0.9 * ri_clusters$z), 3)
write.csv(ri_clusters, file.path(here, "ri_cluster_trial.csv"), row.names = FALSE)
obs <- dm(ri_clusters$y, ri_clusters$z)
ward_ids <- sprintf("W%d", 1:8)
stats_c <- apply(combn(8, 4), 2, function(tr) dm(ri_clusters$y, as.numeric(ri_clusters$ward %in% ward_ids[tr])))
show("ri_cluster.observed", obs)
show("ri_cluster.assignments", length(stats_c))
show("ri_cluster.exact_p", mean(abs(stats_c) >= abs(obs) - tolerance))
