// TCP, Java habits: a thread per connection, and each chunk turned into a String with ISO-8859-1 and
// back after String.toUpperCase(): the Latin-1 letters change too (0xE0 -> 0xC0), 0xFF and 0xB5 become '?',
// and 0xDF (sharp s) becomes "SS", two bytes. Defect: T2 (only a-z change). Framing, half-close (FIN after
// the last reply), concurrency and the graceful stop (SIGTERM: answer what arrived, exit 0) are right.
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;

public class CharsetUpperServer {
    static volatile boolean stopping = false;
    static final Set<Thread> handlers = ConcurrentHashMap.newKeySet();

    static void serve(Socket s) {
        try (s) {
            s.setSoTimeout(100);
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            byte[] buf = new byte[65536];
            long quietSince = System.nanoTime();
            for (;;) {
                int n;
                try {
                    n = in.read(buf);
                } catch (SocketTimeoutException e) {
                    if (stopping && System.nanoTime() - quietSince > 200_000_000L) break;
                    continue;
                }
                if (n < 0) break;
                quietSince = System.nanoTime();
                String text = new String(buf, 0, n, StandardCharsets.ISO_8859_1);
                out.write(text.toUpperCase().getBytes(StandardCharsets.ISO_8859_1));
                out.flush();
            }
            s.shutdownOutput();
        } catch (IOException e) {
            // the client went away
        }
    }

    public static void main(String[] args) throws Exception {
        ServerSocket ls = new ServerSocket();
        ls.setReuseAddress(true);
        ls.bind(new InetSocketAddress(Integer.parseInt(args[0])), 128);
        ls.setSoTimeout(100);
        Thread main = Thread.currentThread();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopping = true;
            try { main.join(10_000); } catch (InterruptedException e) { }
            Runtime.getRuntime().halt(0);
        }));
        while (!stopping) {
            try {
                Socket s = ls.accept();
                Thread t = new Thread(() -> { serve(s); handlers.remove(Thread.currentThread()); });
                handlers.add(t);
                t.start();
            } catch (SocketTimeoutException e) { }
        }
        ls.close();
        for (Thread t : handlers) t.join(5000);
    }
}
