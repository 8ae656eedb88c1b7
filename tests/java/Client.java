// A JDK java.net.http.HttpClient for connlab's stack tests: n GETs of url, with one client
// shared by all (`shared`) or a new client per request, as code that builds one per call does.
//
//	java tests/java/Client.java http://198.18.0.2/ 20 shared
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class Client {
    public static void main(String[] args) throws Exception {
        String url = args[0];
        int n = Integer.parseInt(args[1]);
        boolean shared = args.length > 2 && args[2].equals("shared");
        HttpClient one = client();
        for (int i = 0; i < n; i++) {
            HttpClient c = shared ? one : client();
            HttpRequest request = HttpRequest.newBuilder(URI.create(url + i)).build();
            HttpResponse<String> r = c.send(request, HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new IllegalStateException("status " + r.statusCode());
            }
        }
        System.out.println("done");
    }

    static HttpClient client() {
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    }
}
