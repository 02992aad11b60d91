# Reference values for tests/test_vs_independent_iv.py: the complier average causal effect of the
# shipped trial's cells by two-stage least squares, as estimatr's iv_robust reports it.
#
# Run from the repository root:  Rscript tests/reference/estimatr_iv.R > tests/reference/estimatr_iv.out
# Produced with R 4.2.2 and estimatr 1.0.0 (Debian r-base-core, r-cran-estimatr).
suppressPackageStartupMessages(library(estimatr))

cat("R:", R.version.string, "\n")
cat("estimatr:", as.character(packageVersion("estimatr")), "\n")

show <- function(name, value) cat(sprintf("%s = %.17g\n", name, value))
show_fit <- function(tag, fit, term) {
  row <- tidy(fit)
  row <- row[row$term == term, ]
  for (field in c("estimate", "std.error", "statistic", "p.value", "conf.low", "conf.high", "df")) {
    show(paste0(tag, ".", field), row[[field]])
  }
}

# The shipped trial's cells: BAU 125 (69 withdrew, none contacted); SRC contacted 100 (43 withdrew);
# SRC not contacted 25 (11 withdrew).
d <- data.frame(z = c(rep(0, 125), rep(1, 125)),
                dd = c(rep(0, 125), rep(1, 100), rep(0, 25)),
                y = c(rep(1, 69), rep(0, 56), rep(1, 43), rep(0, 57), rep(1, 11), rep(0, 14)))
show_fit("shipped.hc2", iv_robust(y ~ dd | z, data = d), "dd")
show_fit("shipped.hc0", iv_robust(y ~ dd | z, data = d, se_type = "HC0"), "dd")
