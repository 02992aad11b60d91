# Reference values for tests/test_vs_estimatr_lin.py: Lin's (2013) covariate-adjusted estimate of the
# shipped trial's withdrawal risk difference, by estimatr's lm_lin with HC2 errors (its default t
# interval and test on n - k degrees of freedom).
#
# Run from the repository root:  Rscript tests/reference/shipped_lin.R > tests/reference/shipped_lin.out
# Produced with R 4.2.2, estimatr 1.0.0 and readxl (Debian r-cran-estimatr, r-cran-readxl). It reads the
# shipped files in data/raw/ and cleans them here, independently of the project's Python code, as the
# input contract says: references compared without spaces or case, an exact duplicate record kept
# once, outcome codes read from "14", "OC14", "Outcome 14" or " 14 ", open investigations left out.
# The covariates are the analysis plan's (config/parameters.yml): whether a suspect was identified,
# repeat victimisation, and the offence group, coded as the project codes covariates (one indicator
# per level with at least 10 reports, the most common level the reference).
suppressPackageStartupMessages({library(estimatr); library(readxl)})

cat("R:", R.version.string, "\n")
cat("estimatr:", as.character(packageVersion("estimatr")), "\n")
cat("readxl:", as.character(packageVersion("readxl")), "\n")

show <- function(name, value) cat(sprintf("%s = %.17g\n", name, value))
key <- function(ref) toupper(gsub("\\s", "", ref))

allocation <- read_excel("data/raw/allocation_log.xlsx")
extract <- read.csv("data/raw/crime_extract.csv", colClasses = "character", check.names = FALSE)
allocation <- data.frame(ref = key(allocation[["Crime Ref"]]),
                         z = as.integer(tolower(trimws(allocation[["Allocation"]])) %in% c("src", "treatment")))
extract <- extract[!duplicated(extract), ]
extract$ref <- key(extract[["Crime Ref"]])
stopifnot(!anyDuplicated(extract$ref), !anyDuplicated(allocation$ref))
trial <- merge(allocation, extract, by = "ref")
stopifnot(nrow(trial) == nrow(allocation))

code <- sub("^(outcome code|outcome|oc)", "", gsub("[[:space:]:#-]", "", tolower(trial[["Outcome Code"]])))
number <- suppressWarnings(as.integer(sub("a$", "", code)))
trial$y <- ifelse(code == "", NA, as.integer(number %in% c(14, 16)))
trial <- trial[!is.na(trial$y), ]

trial$suspect <- as.integer(toupper(trimws(trial$suspect_identified)) == "Y")
trial$repeat_victim <- as.integer(toupper(trimws(trial$repeat_victim)) == "Y")
offence <- tolower(trimws(trial[["Offence Group"]]))
counts <- sort(table(offence), decreasing = TRUE)
levels_kept <- names(counts)[-1][counts[-1] >= 10]
for (level in levels_kept) trial[[make.names(paste0("offence_", level))]] <- as.integer(offence == level)
covariates <- reformulate(c("suspect", "repeat_victim", make.names(paste0("offence_", levels_kept))))

fit <- lm_lin(y ~ z, covariates = covariates, data = trial, se_type = "HC2")
row <- tidy(fit)[tidy(fit)$term == "z", ]
for (field in c("estimate", "std.error", "statistic", "p.value", "conf.low", "conf.high", "df")) {
  show(paste0("lin.", field), row[[field]])
}
show("lin.n", nrow(trial))
