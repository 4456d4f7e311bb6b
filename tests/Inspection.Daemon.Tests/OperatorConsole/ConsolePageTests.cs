using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Options;
using Inspection.TestSupport;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace Inspection.Daemon.Tests.OperatorConsole;

/// <summary>The page in a real browser (Debian's chromium, headless, driven by Selenium through chromedriver) against the
/// running daemon: it shows a live frame and a defect, and labelling a frame from the page moves its file into the
/// dataset. A screenshot is saved to <c>artifacts/console/page.png</c>.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ConsolePageTests(ConsoleDaemon fixture)
{
    public static string Screenshot => Path.Combine(Repository.Root, "artifacts", "console", "page.png");

    [RequiresToolFact("chromium", "chromedriver")]
    public void Page_shows_a_live_frame_and_a_defect_and_a_label_given_on_the_page_moves_the_frame_into_the_dataset()
    {
        using var browser = Start();
        browser.Navigate().GoToUrl(fixture.Url);

        Until(browser, () => Number(browser, "return document.getElementById('live-line').naturalWidth") > 0, "a live frame of camera line");
        Until(browser, () => Number(browser, "return [...document.querySelectorAll('#defects li.defect .thumb img')].filter(i => i.naturalWidth > 0).length") > 0,
            "a defect thumbnail in the latest results");
        Until(browser, () => browser.FindElement(By.CssSelector("#camera-line .result")).Text.StartsWith('#'), "the last result under the live view");
        Until(browser, () => browser.FindElement(By.Id("throughput")).Text.EndsWith("/s", StringComparison.Ordinal), "the throughput counter");

        // Flag the live frame from the page (a POST with the page's CSRF token), then label it with the keyboard.
        var before = ReviewIds(browser);
        browser.FindElement(By.CssSelector("#camera-line button")).Click();
        Until(browser, () => ReviewIds(browser).Except(before).Any(), "the flagged frame in the review queue");
        Until(browser, () => Number(browser, "return [...document.querySelectorAll('#review .thumb img')].filter(i => i.naturalWidth > 0).length") > 0, "review thumbnails");
        Directory.CreateDirectory(Path.GetDirectoryName(Screenshot)!);
        ((ITakesScreenshot)browser).GetScreenshot().SaveAsFile(Screenshot);

        var items = browser.FindElements(By.CssSelector("#review li[data-id]"));
        var first = items[0].GetAttribute("data-id")!;
        items[0].Click();
        browser.FindElement(By.TagName("body")).SendKeys("g");
        var labelled = Path.Combine(fixture.Daemon.Options.Review.DatasetDirectory, "good", ReviewOptions.DatasetPrefix + first + ".jpg");
        Until(browser, () => File.Exists(labelled), $"{labelled} after pressing G");
        Assert.False(File.Exists(Path.Combine(fixture.Daemon.Options.Review.Directory, first + ".jpg")));
        Until(browser, () => !ReviewIds(browser).Contains(first), "the labelled frame gone from the queue");
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = "The ChromeDriver made with the service owns it and stops it when the driver is disposed.")]
    private static ChromeDriver Start()
    {
        // Debian's chromium and chromium-driver only: nothing is downloaded (Selenium Manager stays offline).
        Environment.SetEnvironmentVariable("SE_OFFLINE", "true");
        var options = new ChromeOptions { BinaryLocation = Tools.Find("chromium")! };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1100");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(Tools.Find("chromedriver"))!, "chromedriver");
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    private static List<string> ReviewIds(ChromeDriver browser) =>
        [.. browser.FindElements(By.CssSelector("#review li[data-id]")).Select(li => li.GetAttribute("data-id")!)];

    private static long Number(IWebDriver browser, string script) => Convert.ToInt64(((IJavaScriptExecutor)browser).ExecuteScript(script), System.Globalization.CultureInfo.InvariantCulture);

    private static void Until(ChromeDriver browser, Func<bool> condition, string what)
    {
        for (var i = 0; i < 300; i++)
        {
            try
            {
                if (condition())
                {
                    return;
                }
            }
            catch (WebDriverException ex) when (ex is StaleElementReferenceException or JavaScriptException)
            {
                // The page re-rendered the list under us, or its script has not made the element yet; look again.
            }

            Thread.Sleep(100);
        }

        ((ITakesScreenshot)browser).GetScreenshot().SaveAsFile(Screenshot);
        Assert.Fail($"the page never showed {what} within 30 s (screenshot: {Screenshot}); log: {string.Join('\n', browser.Manage().Logs.GetLog(LogType.Browser).Select(l => l.Message))}");
    }
}
