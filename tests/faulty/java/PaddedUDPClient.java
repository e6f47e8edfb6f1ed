// UDP client, the seed's printing: new String(receivePacket.getData()), the whole 1,024-byte buffer with its
// NUL padding and stale bytes, after "FROM SERVER:". It has a 1 s timeout, 3 tries and exits 3 when a message
// got no reply. Defect: C2 (print exactly the reply).
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;

public class PaddedUDPClient {
    public static void main(String[] args) throws Exception {
        InetAddress host = InetAddress.getByName(args[0]);
        int port = Integer.parseInt(args[1]);
        DatagramSocket sock = new DatagramSocket();
        sock.setSoTimeout(1000);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.ISO_8859_1));
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false, "ISO-8859-1");
        byte[] receiveData = new byte[1024];
        int status = 0;
        String line;
        while ((line = in.readLine()) != null) {
            byte[] sendData = line.getBytes(StandardCharsets.ISO_8859_1);
            DatagramPacket receivePacket = new DatagramPacket(receiveData, receiveData.length);
            boolean got = false;
            for (int i = 0; i < 3 && !got; i++) {
                sock.send(new DatagramPacket(sendData, sendData.length, host, port));
                try {
                    sock.receive(receivePacket);
                    got = true;
                } catch (SocketTimeoutException e) { }
            }
            if (!got) {
                System.err.println("udp-client: no reply after 3 tries");
                status = 3;
                continue;
            }
            out.println("FROM SERVER:" + new String(receivePacket.getData(), StandardCharsets.ISO_8859_1));
        }
        out.flush();
        System.exit(status);
    }
}
