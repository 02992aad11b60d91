# Reference values for tests/test_declared_design.py: the estimators helpers.methods.dispatch adds
# beside those of helpers.methods.designs, computed by R's sandwich and estimatr on the same CSV files.
#
# Run from the repository root:  Rscript tests/reference/declared_design.R > tests/reference/declared_design.out
# It reads the data sets tests/reference/estimatr_designs.R wrote (blocked_trial.csv, cluster_trial.csv)
# and writes none. The cluster trial has no baseline covariate, so one is made from the ward's
# number, the same way in the Python test: x = ward number mod 3, constant within each ward.
suppressPackageStartupMessages({library(estimatr); library(sandwich)})

cat("R:", R.version.string, "\n")
cat("estimatr:", as.character(packageVersion("estimatr")), "\n")
cat("sandwich:", as.character(packageVersion("sandwich")), "\n")

here <- "tests/reference"
show <- function(name, value) cat(sprintf("%s = %.17g\n", name, value))
blocked <- read.csv(file.path(here, "blocked_trial.csv"))
cluster <- read.csv(file.path(here, "cluster_trial.csv"))

# ---- Cluster-robust log risk ratio: Poisson (log link) GLM, clustered sandwich, HC0 with G / (G - 1) ----
fit <- glm(y ~ z, family = poisson(link = "log"), data = cluster, control = glm.control(epsilon = 1e-15, maxit = 100))
v <- vcovCL(fit, cluster = ~ward, type = "HC0", cadjust = TRUE)
show("cluster.log_rr.estimate", coef(fit)[["z"]])
show("cluster.log_rr.std.error", sqrt(v["z", "z"]))

# ---- Lin's estimator with block indicators (blocked trial) ----
lin_blocks <- tidy(lm_lin(y ~ z, covariates = ~ block, data = blocked, se_type = "HC2"))
row <- lin_blocks[lin_blocks$term == "z", ]
show("blocked.lin.estimate", row$estimate)
show("blocked.lin.std.error", row$std.error)
show("blocked.lin.conf.low", row$conf.low)
show("blocked.lin.conf.high", row$conf.high)
show("blocked.lin.df", row$df)
show("blocked.lin.p.value", row$p.value)

# ---- Lin's estimator with a CR2 cluster-robust error (cluster trial) ----
cluster$x <- as.numeric(substr(cluster$ward, 2, 3)) %% 3
lin_cluster <- tidy(lm_lin(y ~ z, covariates = ~ x, clusters = ward, data = cluster, se_type = "CR2"))
row <- lin_cluster[lin_cluster$term == "z", ]
show("cluster.lin.estimate", row$estimate)
show("cluster.lin.std.error", row$std.error)
show("cluster.lin.df", row$df)
show("cluster.lin.conf.low", row$conf.low)
show("cluster.lin.conf.high", row$conf.high)
