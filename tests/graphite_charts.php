<?php
/*
 * The graphs Icinga Web 2's graphite module (Debian's icingaweb2-module-graphite 1.2.2)
 * draws for some services, made by the module's own classes: Templates::loadDir,
 * Template::getCharts over a graphite-web, GraphImage::render as the detail view's
 * image does (Web/Widget/Graphs.php: 350x200, a larger template height honoured).
 * For tests/integration/test_graphite_graphs.py; no web server, no monitoring backend:
 * a service is the three columns the module's metric query reads of it.
 *
 * php graphite_charts.php TEMPLATE_DIR GRAPHITE_URL PNG_DIR FROM UNTIL SERVICES_JSON
 * SERVICES_JSON, a file: [{"host": ..., "service": ..., "command": ...}, ...]
 * Prints one JSON line per chart: service, template, metrics (curve -> path),
 * variables, the /render URL the module asked for, the PNG file it got.
 * GRAPHITE_URL file:PATH: no graphite-web, the metric paths listed in PATH (one a
 * line) answer the module's /metrics/expand, and nothing is rendered (charts only).
 * Needs ICINGAWEB_CONFIGDIR with enabledModules/graphite and monitoring.
 */

require_once '/usr/share/php/Icinga/Application/EmbeddedWeb.php';

use Icinga\Module\Graphite\Graphing\GraphiteWebClient;
use Icinga\Module\Graphite\Graphing\MetricsDataSource;
use Icinga\Module\Graphite\Graphing\Templates;
use Icinga\Module\Graphite\Web\FakeSchemeRequest;
use Icinga\Module\Graphite\Web\Widget\GraphImage;
use Icinga\Web\Url;

// as Icinga Web 2 itself: its error handler makes a PHP warning an exception
Icinga\Application\EmbeddedWeb::start('/usr/share/icingaweb2', getenv('ICINGAWEB_CONFIGDIR'));
date_default_timezone_set('UTC');

list(, $templateDir, $graphiteUrl, $pngDir, $from, $until, $servicesFile) = $argv;

/* The module's client, noting the URL of each request (the test asks the same graphs
 * again as JSON). */
class RecordingClient extends GraphiteWebClient
{
    public $last;

    public function request(Url $url, $method = 'GET', array $headers = [], $body = null)
    {
        $this->last = $this->completeUrl($url)->getAbsoluteUrl();
        return parent::request($url, $method, $headers, $body);
    }
}

/* /metrics/expand over a list of paths: graphite's globbing, node by node. */
class ListClient extends GraphiteWebClient
{
    public $paths;

    public function request(Url $url, $method = 'GET', array $headers = [], $body = null)
    {
        $nodes = explode('.', $url->getParam('query'));
        $found = array_filter($this->paths, function ($path) use ($nodes) {
            $parts = explode('.', $path);
            if (count($parts) !== count($nodes)) {
                return false;
            }
            foreach ($parts as $index => $part) {
                if (! fnmatch($nodes[$index], $part)) {
                    return false;
                }
            }
            return true;
        });
        return json_encode(['results' => array_values($found)]);
    }
}

if (strpos($graphiteUrl, 'file:') === 0) {
    $client = new ListClient(Url::fromPath('http://127.0.0.1/', [], new FakeSchemeRequest()));
    $client->paths = file(substr($graphiteUrl, 5), FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES);
} else {
    $client = new RecordingClient(Url::fromPath($graphiteUrl, [], new FakeSchemeRequest()));
}
$source = new MetricsDataSource($client);
$templates = (new Templates())->loadDir($templateDir);
$count = 0;
foreach (json_decode(file_get_contents($servicesFile), true) as $service) {
    $object = (object) [
        'host_name' => $service['host'],
        'service_description' => $service['service'],
        'service_check_command' => $service['command'],
    ];
    foreach ($templates->getTemplates($service['command']) as $name => $template) {
        foreach ($template->getCharts($source, $object, []) as $chart) {
            $params = $template->getUrlParams();
            $height = 200;
            if (isset($params['height']) && $params['height']->resolve(['height']) > $height) {
                $height = $params['height']->resolve(['height']);
            }
            $width = isset($params['width']) ? $params['width']->resolve(['width']) : 350;
            $chart->setFrom($from)->setUntil($until)->setWidth($width)->setHeight($height);
            $file = null;
            if ($client instanceof RecordingClient) {
                $file = sprintf('%s/%04d.png', $pngDir, ++$count);
                file_put_contents($file, (new GraphImage($chart))->render());
            }
            echo json_encode([
                'service' => $service['service'],
                'template' => $name,
                'metrics' => $chart->getMetrics(),
                'variables' => $chart->getMetricVariables(),
                'url' => $client instanceof RecordingClient ? $client->last : null,
                'png' => $file,
            ]), "\n";
        }
    }
}
