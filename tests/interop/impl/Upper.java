// The protocol in Java: TcpServer, TcpClient, UdpServer and UdpClient (javac -d DIR Upper.java; java -cp DIR TcpServer PORT).
// Bytes, not text: only a-z change, the stream is answered as it comes, and a half-close is answered, then closed.
import java.io.*;
import java.net.*;

class Upper {
    static void upper(byte[] b, int n) {
        for (int i = 0; i < n; i++)
            if (b[i] >= 'a' && b[i] <= 'z') b[i] -= 32;
    }
}

class TcpServer {
    public static void main(String[] args) throws IOException {
        ServerSocket ls = new ServerSocket(Integer.parseInt(args[0]));
        while (true) {
            Socket c = ls.accept();
            new Thread(() -> {
                try (c) {
                    InputStream in = c.getInputStream();
                    OutputStream out = c.getOutputStream();
                    byte[] b = new byte[65536];
                    int n;
                    while ((n = in.read(b)) > 0) {
                        Upper.upper(b, n);
                        out.write(b, 0, n);
                    }
                } catch (IOException e) {
                    System.err.println("TcpServer: " + e);
                }
            }).start();
        }
    }
}

class TcpClient {
    public static void main(String[] args) throws Exception {
        Socket s = new Socket(args[0], Integer.parseInt(args[1]));
        Thread sender = new Thread(() -> {
            try {
                OutputStream out = s.getOutputStream();
                byte[] b = new byte[65536];
                int n;
                while ((n = System.in.read(b)) > 0)
                    out.write(b, 0, n);
                s.shutdownOutput();
            } catch (IOException e) {
                System.err.println("TcpClient: " + e);
            }
        });
        sender.start();
        InputStream in = s.getInputStream();
        byte[] b = new byte[65536];
        int n;
        while ((n = in.read(b)) > 0)
            System.out.write(b, 0, n);
        System.out.flush();
        s.close();
    }
}

class UdpServer {
    public static void main(String[] args) throws IOException {
        DatagramSocket s = new DatagramSocket(Integer.parseInt(args[0]));
        byte[] b = new byte[65536];
        while (true) {
            DatagramPacket p = new DatagramPacket(b, b.length);
            s.receive(p);
            Upper.upper(b, p.getLength());
            s.send(new DatagramPacket(b, p.getLength(), p.getSocketAddress()));
        }
    }
}

class UdpClient {
    public static void main(String[] args) throws IOException {
        DatagramSocket s = new DatagramSocket();
        s.connect(new InetSocketAddress(args[0], Integer.parseInt(args[1])));
        s.setSoTimeout(1000);
        byte[] all = System.in.readAllBytes();
        byte[] r = new byte[65536];
        int start = 0;
        for (int i = 0; i < all.length; i++) {
            if (all[i] != '\n') continue;
            byte[] line = java.util.Arrays.copyOfRange(all, start, i);
            start = i + 1;
            DatagramPacket reply = new DatagramPacket(r, r.length);
            boolean got = false;
            for (int t = 0; t < 3 && !got; t++) {
                s.send(new DatagramPacket(line, line.length));
                try { s.receive(reply); got = true; } catch (SocketTimeoutException e) { }
            }
            if (!got) {
                System.err.println("UdpClient: no reply after 3 tries");
                System.exit(3);
            }
            System.out.write(r, 0, reply.getLength());
            System.out.write('\n');
        }
        System.out.flush();
    }
}
