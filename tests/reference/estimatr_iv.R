library(estimatr)
# The shipped trial's cells: BAU 125 (69 withdrew, none contacted); SRC contacted 100 (43 withdrew);
# SRC not contacted 25 (11 withdrew).
d <- data.frame(z = c(rep(0, 125), rep(1, 125)),
                dd = c(rep(0, 125), rep(1, 100), rep(0, 25)),
                y = c(rep(1, 69), rep(0, 56), rep(1, 43), rep(0, 57), rep(1, 11), rep(0, 14)))
f <- iv_robust(y ~ dd | z, data = d)
print(f$se_type)
print(sprintf("%.12f", c(coef(f)["dd"], f$std.error["dd"], f$conf.low["dd"], f$conf.high["dd"], f$p.value["dd"], f$df["dd"])))
f0 <- iv_robust(y ~ dd | z, data = d, se_type = "HC0")
print(sprintf("%.12f", c(f0$std.error["dd"], f0$conf.low["dd"], f0$conf.high["dd"])))
