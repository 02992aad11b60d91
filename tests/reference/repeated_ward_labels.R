# Reference values for tests/test_declared_clusters.py: a cluster-randomised trial whose ward labels
# repeat across boroughs, analysed by estimatr with the declared clusters (the ward labels) and, as a
# negative control, with wards nested in boroughs.
#
# Run from the repository root:  Rscript tests/reference/repeated_ward_labels.R > tests/reference/repeated_ward_labels.out
# Produced with R 4.2.2 and estimatr 1.0.0 (Debian r-cran-estimatr). The script writes the trial it
# analyses as repeated_wards_trial.csv beside itself (set.seed makes it the same on every run of this R
# version); the Python test builds the input files from that CSV and runs srceval on them.
#
# The trial: 60 wards, labelled W01 ... W60, 30 allocated to SRC as whole wards. Ward labels are the
# units randomised, but a report's borough is recorded apart from its ward, so every label turns up in
# several of the four boroughs. Reports of one ward are alike (a ward effect on the log-odds of
# withdrawal); in SRC wards 80% of victims receive the contact, in the others none.
suppressPackageStartupMessages(library(estimatr))

cat("R:", R.version.string, "\n")
cat("estimatr:", as.character(packageVersion("estimatr")), "\n")

here <- "tests/reference"
show <- function(name, value) cat(sprintf("%s = %.17g\n", name, value))
show_fit <- function(tag, tidy_row) {
  for (field in c("estimate", "std.error", "statistic", "p.value", "conf.low", "conf.high", "df")) {
    show(paste0(tag, ".", field), tidy_row[[field]])
  }
}

set.seed(20240522)
boroughs <- c("Kingston", "Merton", "Richmond", "Wandsworth")
wards <- data.frame(ward = sprintf("W%02d", 1:60), size = sample(4:12, 60, replace = TRUE),
                    effect = rnorm(60, 0, 0.9), zc = sample(rep(0:1, 30)))
trial <- do.call(rbind, lapply(seq_len(nrow(wards)), function(g) {
  w <- wards[g, ]; m <- w$size
  d <- if (w$zc == 1) rbinom(m, 1, 0.8) else rep(0, m)
  y <- rbinom(m, 1, plogis(0.2 + w$effect - 0.6 * d))
  data.frame(borough = sample(boroughs, m, replace = TRUE), ward = w$ward, z = w$zc, d = d, y = y)
}))
write.csv(trial, file.path(here, "repeated_wards_trial.csv"), row.names = FALSE)

show("n", nrow(trial))
show("wards", length(unique(trial$ward)))
show("borough_wards", nrow(unique(trial[, c("borough", "ward")])))
show("src_wards", sum(wards$zc))

# The declared clusters: the ward labels as written.
show_fit("ward.itt", tidy(lm_robust(y ~ z, clusters = ward, se_type = "CR2", data = trial))[2, ])
show_fit("ward.cace", tidy(iv_robust(y ~ d | z, clusters = ward, se_type = "CR2", data = trial))[2, ])
# Wards nested in boroughs (clusters: [borough, ward]): many more, smaller clusters.
trial$borough_ward <- paste(trial$borough, trial$ward, sep = " / ")
show_fit("nested.itt", tidy(lm_robust(y ~ z, clusters = borough_ward, se_type = "CR2", data = trial))[2, ])
show_fit("nested.cace", tidy(iv_robust(y ~ d | z, clusters = borough_ward, se_type = "CR2", data = trial))[2, ])
