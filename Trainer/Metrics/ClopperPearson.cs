namespace Inspection.Trainer.Metrics;

/// <summary>
/// Exact (Clopper–Pearson) binomial confidence bounds, from the regularized incomplete beta function: the one-sided
/// lower bound for k successes in n trials is the α quantile of Beta(k, n − k + 1) (0 when k = 0), the upper bound
/// the 1 − α quantile of Beta(k + 1, n − k) (1 when k = n).
/// </summary>
internal static class ClopperPearson
{
    /// <summary>One-sided lower bound of the success rate at <paramref name="confidence"/>.</summary>
    public static double Lower(long successes, long trials, double confidence = 0.95)
    {
        Check(successes, trials, confidence);
        return successes == 0 ? 0 : BetaQuantile(1 - confidence, successes, trials - successes + 1);
    }

    /// <summary>One-sided upper bound of the success rate at <paramref name="confidence"/>.</summary>
    public static double Upper(long successes, long trials, double confidence = 0.95)
    {
        Check(successes, trials, confidence);
        return successes == trials ? 1 : BetaQuantile(confidence, successes + 1, trials - successes);
    }

    /// <summary>
    /// How many more positives, all detected, would lift the lower bound of <paramref name="successes"/> of
    /// <paramref name="trials"/> to <paramref name="target"/>; 0 when it already is. Null when no number would
    /// (the target is 1).
    /// </summary>
    public static long? MorePositivesNeeded(long successes, long trials, double target, double confidence = 0.95)
    {
        if (Lower(successes, trials, confidence) >= target)
        {
            return 0;
        }

        if (target >= 1)
        {
            return null;
        }

        long high = 1;
        while (Lower(successes + high, trials + high, confidence) < target)
        {
            high *= 2;
            if (high > 100_000_000)
            {
                return null;
            }
        }

        long low = high / 2; // low fails (or is 0), high succeeds
        while (high - low > 1)
        {
            var mid = (low + high) / 2;
            if (Lower(successes + mid, trials + mid, confidence) >= target)
            {
                high = mid;
            }
            else
            {
                low = mid;
            }
        }

        return high;
    }

    private static void Check(long successes, long trials, double confidence)
    {
        if (trials <= 0 || successes < 0 || successes > trials)
        {
            throw new ArgumentException($"need 0 <= successes <= trials and trials > 0 (got {successes} of {trials})");
        }

        if (confidence is <= 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "confidence must be in (0, 1)");
        }
    }

    /// <summary>x with I_x(a, b) = p, by bisection (I is increasing in x); accurate to ~1e-12.</summary>
    private static double BetaQuantile(double p, double a, double b)
    {
        double low = 0, high = 1;
        for (var i = 0; i < 100; i++)
        {
            var mid = (low + high) / 2;
            if (RegularizedBeta(mid, a, b) < p)
            {
                low = mid;
            }
            else
            {
                high = mid;
            }
        }

        return (low + high) / 2;
    }

    /// <summary>I_x(a, b) by its continued fraction (modified Lentz), using the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) where it converges faster.</summary>
    public static double RegularizedBeta(double x, double a, double b)
    {
        if (x <= 0)
        {
            return 0;
        }

        if (x >= 1)
        {
            return 1;
        }

        var logFront = LogGamma(a + b) - LogGamma(a) - LogGamma(b) + (a * Math.Log(x)) + (b * Math.Log(1 - x));
        if (x < (a + 1) / (a + b + 2))
        {
            return Math.Exp(logFront) * ContinuedFraction(x, a, b) / a;
        }

        return 1 - (Math.Exp(logFront) * ContinuedFraction(1 - x, b, a) / b);
    }

    private static double ContinuedFraction(double x, double a, double b)
    {
        const double tiny = 1e-300;
        double c = 1, d = 1 - ((a + b) * x / (a + 1));
        d = Math.Abs(d) < tiny ? tiny : d;
        d = 1 / d;
        var result = d;
        for (var m = 1; m <= 10_000; m++)
        {
            // even step
            var numerator = m * (b - m) * x / ((a + (2 * m) - 1) * (a + (2 * m)));
            d = 1 + (numerator * d);
            d = Math.Abs(d) < tiny ? tiny : d;
            c = 1 + (numerator / c);
            c = Math.Abs(c) < tiny ? tiny : c;
            d = 1 / d;
            result *= d * c;

            // odd step
            numerator = -(a + m) * (a + b + m) * x / ((a + (2 * m)) * (a + (2 * m) + 1));
            d = 1 + (numerator * d);
            d = Math.Abs(d) < tiny ? tiny : d;
            c = 1 + (numerator / c);
            c = Math.Abs(c) < tiny ? tiny : c;
            d = 1 / d;
            var delta = d * c;
            result *= delta;
            if (Math.Abs(delta - 1) < 1e-15)
            {
                break;
            }
        }

        return result;
    }

    /// <summary>ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error ~1e-15).</summary>
    private static double LogGamma(double x)
    {
        double[] coefficients =
        [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
        ];
        if (x < 0.5)
        {
            return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        }

        x -= 1;
        var sum = coefficients[0];
        for (var i = 1; i < coefficients.Length; i++)
        {
            sum += coefficients[i] / (x + i);
        }

        var t = x + 7.5;
        return (0.5 * Math.Log(2 * Math.PI)) + ((x + 0.5) * Math.Log(t)) - t + Math.Log(sum);
    }
}
