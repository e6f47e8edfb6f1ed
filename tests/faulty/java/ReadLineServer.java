// TCP, Java habits: BufferedReader.readLine() and a reply written as the line plus "\n". readLine() takes
// CR, LF and CRLF alike as the end of a line and drops it, so CRLF comes back as LF, a lone CR splits the line,
// and an unterminated last line gets an LF it never had. The upper case itself is right (a-z only, bytes
// through ISO-8859-1). Defect: T2 (the reply stream is not byte for byte the request's upper case).
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;

public class ReadLineServer {
    static volatile boolean stopping = false;
    static final Set<Thread> handlers = ConcurrentHashMap.newKeySet();

    static String upper(String s) {
        char[] c = s.toCharArray();
        for (int i = 0; i < c.length; i++)
            if (c[i] >= 'a' && c[i] <= 'z') c[i] -= 0x20;
        return new String(c);
    }

    static void serve(Socket s) {
        try (s) {
            s.setSoTimeout(100);
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1));
            OutputStream out = s.getOutputStream();
            long quietSince = System.nanoTime();
            for (;;) {
                String line;
                try {
                    line = in.readLine();
                } catch (SocketTimeoutException e) {
                    if (stopping && System.nanoTime() - quietSince > 200_000_000L) break;
                    continue;
                }
                if (line == null) break;
                quietSince = System.nanoTime();
                out.write((upper(line) + "\n").getBytes(StandardCharsets.ISO_8859_1));
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
